"""The common currency of the evidence extractors: a *signal* table.

Each extractor (metrics, logs, traces) returns a DataFrame with one row per observation that speaks
about one service:

* ``service``  — the service it is about (candidate root cause)
* ``kind``     — the evidence kind (see :data:`KINDS`)
* ``modality`` — metrics | logs | traces
* ``name``     — what was measured (metric name, template key, ``caller->callee``, ...)
* ``strength`` — how unusual it is against the baseline, as a z-score equivalent (>= 0)
* ``detail``   — a short human sentence for the evidence list

Kinds say what a signal means for localisation:

* ``resource``        saturation of the service's own CPU / memory: points at the service itself
* ``io``              its disk / network byte / syscall rates moved
* ``latency``         it serves requests more slowly (server side)
* ``client_latency``  its outgoing calls got slower (client side): points at its callees or its network
* ``network``         the gap between a caller's and a callee's view of the same calls grew
* ``errors``          more errors / lower success rate / error-level log lines
* ``log_pattern``     its log statements changed: usual ones vanished, new or rare ones appeared
* ``span_pattern``    its calls changed shape: operations it used to call vanished, or requests end abnormally fast
* ``silenced``        it is still called as often but stopped logging a statement it used to log per call
* ``stopped``         it stopped receiving requests (its request rate fell to zero): usually a victim of a caller
* ``traffic``         its request or log volume moved (up or down)
"""

from __future__ import annotations

import pandas as pd

KINDS: tuple[str, ...] = (
    "resource", "io", "latency", "client_latency", "network", "errors", "log_pattern", "span_pattern", "traffic",
    "silenced", "stopped",
)
SIGNAL_COLUMNS: tuple[str, ...] = ("service", "kind", "modality", "name", "strength", "detail")


def empty_signals() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64" if c == "strength" else "str") for c in SIGNAL_COLUMNS})


def signals_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    if not rows:
        return empty_signals()
    frame = pd.DataFrame(rows, columns=list(SIGNAL_COLUMNS))
    frame["strength"] = frame["strength"].astype("float64")
    return frame
