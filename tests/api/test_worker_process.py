"""WorkerProcess: calls run in one kept child process at background priority, which is replaced if it dies."""

from __future__ import annotations

import os
from concurrent.futures.process import BrokenProcessPool

import pytest

from triage.api.worker_process import WorkerProcess


def test_calls_run_in_one_kept_child_at_background_priority():
    worker = WorkerProcess(preload=("triage.diagnosis.recent",), timeout=60)
    try:
        # (a builtin goes to the child by name; a function of this test module might not be importable there)
        assert worker.run(eval, "'triage.diagnosis.recent' in __import__('sys').modules")
        child = worker.run(os.getpid)
        assert child != os.getpid()
        assert worker.run(os.getpid) == child  # kept for the next call
        assert worker.run(divmod, 17, 5) == (3, 2)
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert worker.run(os.getpriority, os.PRIO_PROCESS, 0) > mine or mine == 19
    finally:
        worker.close()


def test_a_dead_child_fails_its_call_and_the_next_call_gets_a_new_one():
    worker = WorkerProcess(timeout=60)
    try:
        first = worker.run(os.getpid)
        with pytest.raises(BrokenProcessPool):
            worker.run(os._exit, 3)
        second = worker.run(os.getpid)
        assert second != first
    finally:
        worker.close()


def test_errors_come_back_and_a_closed_worker_refuses():
    worker = WorkerProcess(timeout=60)
    with pytest.raises(ZeroDivisionError):
        worker.run(divmod, 1, 0)
    worker.close()
    with pytest.raises(RuntimeError, match="stopped"):
        worker.run(os.getpid)
