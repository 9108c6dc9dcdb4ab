# The two commands a user needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

.PHONY: run test install lock lint clean-venv assets browser bytecode

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

test: $(STAMP) assets browser bytecode
	$(BIN)/python -m pytest

run: $(STAMP) assets bytecode
	$(BIN)/triage run

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks pipelines

clean-venv:
	rm -rf $(VENV)

# The dashboard's chart library, fetched from the npm registry at build time (never from a CDN at run time),
# checked against its pinned sha512 integrity and kept out of git (src/triage/api/static/vendor/).
# Plain Python (src/triage/api/assets.py): neither node nor npm is needed.
assets: $(STAMP)
	@$(BIN)/python -m triage.api.assets

# triage's own modules compiled ahead (installed packages already are): where writing bytecode is switched off
# (PYTHONDONTWRITEBYTECODE), every triage process would otherwise compile them again, ~0.1 s each.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q src >/dev/null

# Debian's chromium for the Playwright browser tests (installed when missing and possible).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "browser: installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "browser: could not install chromium; the browser tests will be skipped"; \
	else echo "browser: chromium is missing and cannot be installed here (needs root and apt-get); browser tests will be skipped"; fi
