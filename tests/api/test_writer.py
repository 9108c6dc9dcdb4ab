"""BatchWriter: what is put is flushed in order, in batches of at most max_batch, and a failed flush is retried."""

from __future__ import annotations

import threading

from triage.api.writer import BatchWriter


def test_everything_put_is_flushed_once_in_order_within_max_batch():
    batches: list[list[int]] = []
    writer = BatchWriter(lambda batch: batches.append(list(batch)), interval=0.05, max_batch=7)
    try:
        for start in range(0, 100, 10):
            writer.put_many(list(range(start, start + 10)))
        writer.put(100)
        writer.put_many([])
        assert writer.drain(10.0)
        assert [item for batch in batches for item in batch] == list(range(101))
        assert max(len(batch) for batch in batches) <= 7
        assert writer.flushed == 101 and writer.backlog == 0
    finally:
        writer.stop()


def test_a_failed_flush_keeps_its_items_and_retries():
    calls: list[list[str]] = []
    failed = threading.Event()

    def flush(batch):
        calls.append(list(batch))
        if not failed.is_set():
            failed.set()
            raise OSError("disk full\nsecond line")

    writer = BatchWriter(flush, interval=0.01)
    try:
        writer.put_many(["a", "b"])
        assert writer.drain(10.0)
        assert calls[0] == ["a", "b"] and calls[-1] == ["a", "b"] and len(calls) == 2
        assert writer.last_error is None and writer.flushed == 2
    finally:
        writer.stop()


def test_drain_times_out_while_flushes_fail():
    writer = BatchWriter(lambda batch: (_ for _ in ()).throw(OSError("store gone")), interval=0.01)
    try:
        writer.put("x")
        assert not writer.drain(0.3)
        assert writer.backlog == 1 and writer.last_error == "OSError: store gone"
    finally:
        writer.stop(timeout=0.5)  # gives up on the failing batch
