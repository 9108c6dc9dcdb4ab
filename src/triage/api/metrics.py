"""Prometheus metrics, one registry per app (so several apps in one process don't collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "triage_http_request_duration_seconds",
            "HTTP request latency by method, route and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.diagnoses = Counter(
            "triage_diagnoses_total", "Diagnoses returned, by severity and category.", ["severity", "category"],
            registry=self.registry,
        )
        self.model_version = Gauge(
            "triage_model_version_info", "Model versions in service (value 1 per loaded version).",
            ["model", "version"], registry=self.registry,
        )
        self.model_reload_failures = Counter(
            "triage_model_reload_failures_total", "Champion loads that failed (the last good model stays).",
            ["model"], registry=self.registry,
        )
        self.events_accepted = Counter(
            "triage_events_accepted_total", "Events and log lines accepted (journaled).", ["kind"],
            registry=self.registry,
        )
        self.store_flush_seconds = Histogram(
            "triage_store_flush_seconds", "Time to flush a batch to the DuckDB store.", registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )

        # Label lookups cost more than the increments (locks, string checks): keep the children per label
        # set (a few dozen: routes, severities and categories are bounded).
        self._request_children: dict[tuple[str, str, int], Histogram] = {}
        self._diagnosis_children: dict[tuple[str, str], Counter] = {}
        self._accepted_error: Counter | None = None  # made on first use: no zero sample before any event

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        child = self._request_children.get((method, route, status))
        if child is None:
            child = self._request_children[(method, route, status)] = self.requests.labels(method, route, str(status))
        child.observe(seconds)

    def count_diagnosis(self, severity: str, category: str) -> None:
        """One diagnosis returned (and its event accepted)."""
        child = self._diagnosis_children.get((severity, category))
        if child is None:
            child = self._diagnosis_children[(severity, category)] = self.diagnoses.labels(severity, category)
        child.inc()
        if self._accepted_error is None:
            self._accepted_error = self.events_accepted.labels("error")
        self._accepted_error.inc()

    def set_model_versions(self, versions: dict[str, str]) -> None:
        self.model_version.clear()
        for model, version in versions.items():
            self.model_version.labels(model, version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
