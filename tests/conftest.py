"""Shared fixtures: every test gets its own home folder under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from triage.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose home is a fresh temporary folder."""
    return Settings(home=tmp_path / "home")


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
