from __future__ import annotations

import os
import sys
import threading

import pytest

from triage.threads import BACKGROUND_NICENESS, start_background


@pytest.mark.xfail(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's", strict=True)
def test_background_threads_run_nicer_than_their_starter_and_pass_it_on() -> None:
    seen: dict[str, int] = {}

    def nice_of_this_thread() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def work() -> None:
        seen["background"] = nice_of_this_thread()
        child = threading.Thread(target=lambda: seen.setdefault("its child", nice_of_this_thread()))
        child.start()  # e.g. DuckDB's worker threads, started by the store writer
        child.join()

    start_background(work, "test-background").join(10)
    mine = nice_of_this_thread()
    assert seen["background"] == min(19, mine + BACKGROUND_NICENESS)
    assert seen["its child"] == seen["background"]
    assert nice_of_this_thread() == mine  # the starting thread keeps its priority


@pytest.mark.xfail(not sys.platform.startswith("linux"), reason="thread names in /proc are Linux's", strict=True)
def test_background_threads_carry_their_name_in_the_os() -> None:
    from pathlib import Path

    def os_name() -> str:
        return Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip()

    seen: dict[str, str] = {}
    start_background(lambda: seen.setdefault("name", os_name()), "triage-reactions-and-more").join(10)
    assert seen["name"] == "triage-reaction"  # the OS keeps 15 bytes
    assert os_name() != "triage-reaction"  # the starting thread keeps its own
