# The two commands a user needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: run test install lock lint clean-venv

install: $(STAMP)

# Install from the lock file so every machine gets the same set of packages.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	UV_COMPILE_BYTECODE=1 $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

# Regenerate the lock file after changing dependencies in pyproject.toml.
lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

test: $(STAMP)
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/triage run

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks pipelines

clean-venv:
	rm -rf $(VENV)
