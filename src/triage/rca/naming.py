"""Name the issue in words from the strongest evidence for the root-cause service."""

from __future__ import annotations

import re

import pandas as pd

_CPU = re.compile(r"cpu|throttl", re.I)
_MEMORY = re.compile(r"mem|rss|heap|oom|swap", re.I)


def name_issue(service: str, kind: str | None, signal: pd.Series | None) -> str:
    """A short phrase such as "CPU contention on ts-order-service" or "exception burst: `<template>`".

    ``kind`` is the evidence kind that contributed most to the service's score and ``signal`` its strongest
    signal of that kind (a row of the signal table), when there is one.
    """
    name = str(signal["name"]) if signal is not None else ""
    modality = str(signal["modality"]) if signal is not None else ""
    detail = str(signal["detail"]) if signal is not None else ""
    if kind == "resource":
        if _CPU.search(name):
            return f"CPU contention on {service}"
        if _MEMORY.search(name):
            return f"memory pressure on {service}"
        return f"resource exhaustion ({name}) on {service}" if name else f"resource exhaustion on {service}"
    if kind == "io":
        return f"I/O or network-throughput anomaly on {service} ({name})" if name else f"I/O anomaly on {service}"
    if kind == "latency":
        return f"slow responses from {service}" + (f" (`{name}`)" if modality == "traces" else "")
    if kind == "client_latency":
        return f"slow outgoing calls from {service}"
    if kind == "network":
        return f"network delay on calls to {service}"
    if kind == "errors":
        if modality == "logs" and name and name != "error lines":
            return f"exception burst: `{_short(name)}`"
        if modality == "logs":
            return f"error burst in {service}"
        return f"error rate up on {service} ({name})" if name else f"error rate up on {service}"
    if kind == "log_pattern":
        if "stopped" in detail:
            return f"code path change in {service}: `{_short(name)}` no longer logged"
        return f"new log pattern in {service}: `{_short(name)}`"
    if kind == "span_pattern":
        if "faster" in detail:
            return f"requests cut short in {service} (`{_short(name)}`)"
        return f"{service} stopped making some calls (`{_short(name)}`)"
    if kind == "silenced":
        if modality == "traces":
            return f"code path change in {service}: it no longer makes some calls (`{_short(name)}`)"
        return f"code path change in {service}: `{_short(name)}` no longer logged although it is still called"
    if kind == "stopped":
        return f"{service} stopped receiving requests"
    if kind == "callee_stopped":
        callee = str(signal["service"]) if signal is not None and "service" in signal else "a service it calls"
        return f"code path change in {service}: {callee} no longer receives requests from it"
    if kind == "traffic":
        return f"traffic shift on {service}" + (f" ({name})" if name else "")
    if kind == "caller_wait":
        return f"calls to {service} are slow (its callers wait on it)"
    if kind in ("caller_symptoms", "unexplained", "callee_symptoms"):
        return f"fault in {service} propagating to its callers"
    return f"anomaly on {service}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
