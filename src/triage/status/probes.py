"""HTTP health checks of monitored components (the status page's only outbound calls, to configured URLs)."""

from __future__ import annotations

import time

import httpx

from triage.status.config import ProbeConfig
from triage.status.schemas import CheckOutcome


def http_probe(probe: ProbeConfig, *, client: httpx.Client | None = None) -> CheckOutcome:
    """GET ``probe.url``: a 2xx/3xx answer within the timeout is up (its latency decides degraded)."""
    name = f"probe {probe.url}"
    started = time.perf_counter()
    try:
        if client is None:
            with httpx.Client(timeout=probe.timeout_s, follow_redirects=False) as own:
                response = own.get(probe.url)
        else:
            response = client.get(probe.url, timeout=probe.timeout_s)
    except httpx.HTTPError as exc:
        return CheckOutcome(name, False, (time.perf_counter() - started) * 1000, type(exc).__name__)
    latency = (time.perf_counter() - started) * 1000
    if response.status_code >= 400:
        return CheckOutcome(name, False, latency, f"HTTP {response.status_code}")
    return CheckOutcome(name, True, latency)
