"""The periodic health recorder: every ``interval_s`` it runs each component's checks and probes, combines
them with open incidents and planned maintenance, and records one sample per component. The uptime bars
are counted from these samples, so they show what was measured, tick by tick.

Its inputs are injected callables (the API passes its readiness checks and its incident store), so this
module knows nothing of the layers above it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import httpx

from triage.errors import summarize
from triage.status.config import StatusConfig
from triage.status.probes import http_probe
from triage.status.rules import component_state
from triage.status.schemas import CheckOutcome, Impact, Maintenance, Sample
from triage.status.store import StatusStore
from triage.threads import start_background

log = logging.getLogger("triage.status.recorder")

Readiness = Callable[[], Mapping[str, CheckOutcome]]
Impacts = Callable[[], Sequence[Impact]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class StatusRecorder:
    def __init__(
        self,
        *,
        store: StatusStore,
        config: StatusConfig,
        readiness: Readiness,
        impacts: Impacts,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.config = config
        self._readiness = readiness
        self._impacts = impacts
        self._clock = clock
        self._outcomes: dict[str, tuple[CheckOutcome, ...]] = {}
        self._current: dict[str, Sample] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.last_error: str | None = None

    # --- one round ----------------------------------------------------------------------------------------
    def measure(self) -> dict[str, tuple[CheckOutcome, ...]]:
        """Run every component's readiness checks and HTTP probes."""
        needs_readiness = any(c.checks for c in self.config.components)
        ready = dict(self._readiness()) if needs_readiness else {}
        outcomes: dict[str, tuple[CheckOutcome, ...]] = {}
        with httpx.Client(follow_redirects=False) as client:
            for component in self.config.components:
                found = [ready.get(name, CheckOutcome(name, False, None, "no such check")) for name in component.checks]
                found += [http_probe(p, client=client) for p in component.probes]
                outcomes[component.id] = tuple(found)
        with self._lock:
            self._outcomes = outcomes
        return outcomes

    def states(
        self, *, now: datetime, impacts: Sequence[Impact], maintenances: Sequence[Maintenance]
    ) -> dict[str, Sample]:
        """Every component's state now, from the last measured checks and the given incidents/maintenance."""
        with self._lock:
            outcomes = dict(self._outcomes)
        out = {}
        for component in self.config.components:
            state, reason = component_state(component, outcomes.get(component.id, ()), impacts, maintenances, now,
                                            self.config)
            out[component.id] = Sample(component.id, now, state, reason)
        return out

    def tick(self) -> list[Sample]:
        """Measure, decide and record one sample per component; returns them."""
        self.measure()
        now = self._clock()
        impacts = list(self._impacts())
        maintenances = self.store.maintenances(ending_after=now)
        samples = self.states(now=now, impacts=impacts, maintenances=maintenances)
        self.store.record(list(samples.values()), keep_days=self.config.days + 1)
        with self._lock:
            self._current = samples
        self.ticks += 1
        return list(samples.values())

    def current(self) -> dict[str, Sample]:
        with self._lock:
            return dict(self._current)

    # --- background thread --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = start_background(self._run, "triage-status")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                self.last_error = None
            except Exception as exc:  # a failed round is reported and retried next tick, never fatal
                self.last_error = summarize(exc)
                log.warning("status round failed", extra={"error": self.last_error})
            self._stop.wait(self.config.interval_s)

