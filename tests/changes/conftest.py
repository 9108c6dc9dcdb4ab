from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.changes.config import ChangeConfig
from triage.changes.service import ChangeService
from triage.settings import Settings
from triage.storage.database import Database

MON_9 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday


class Clock:
    """An injected clock: tests move time, nothing sleeps."""

    def __init__(self, now: datetime = MON_9) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


GRAPH = {
    "web": ["api"],
    "mobile": ["api"],
    "api": ["auth", "records"],
    "records": ["postgres"],
    "auth": ["postgres"],
    "reports": ["postgres"],
    "billing": ["records"],
}


@pytest.fixture
def config() -> ChangeConfig:
    return ChangeConfig(dependencies=GRAPH)


@pytest.fixture
def service(settings: Settings, config: ChangeConfig, clock: Clock) -> ChangeService:
    return ChangeService(Database(settings.store_path), config=config, clock=clock)
