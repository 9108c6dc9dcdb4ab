"""The cyclic garbage collector, tuned for a process that loads a lot once and then allocates in bulk.

A scorer or an ingest holds a large heap that never becomes garbage (libraries, models, the template
miner's tree) and allocates many short-lived objects (rows, requests). With CPython's defaults every
700 net allocations start a young collection, and full collections walk that whole heap: in the scorer
that stalled requests for hundreds of milliseconds, and in an ingest it cost about 7 % of its CPU.
"""

from __future__ import annotations

import gc

#: Net allocations between young collections (CPython's default: 700).
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, move everything alive now out of the collector's reach (``gc.freeze``), and collect
    the young generation less often. For a process's own entry point (the whole process is affected),
    after its start-up has loaded what it keeps."""
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    # Objects in flight (requests waiting for the journal, rows of a batch) are then rarely promoted, so
    # full collections stay rare too.
    gc.set_threshold(YOUNG_THRESHOLD, 20, 10)
