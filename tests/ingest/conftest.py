"""Ingest test helpers. ``pytest tests/ingest --regen-golden`` rewrites the golden files (review the diff!)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", default=False, help="rewrite ingest golden files")


@pytest.fixture
def regen_golden(request: pytest.FixtureRequest) -> bool:
    try:
        return bool(request.config.getoption("--regen-golden"))
    except ValueError:  # option not registered (conftest loaded late): never regenerate
        return False
