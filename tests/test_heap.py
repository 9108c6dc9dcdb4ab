"""settle_heap changes the whole process's collector, so it is tried in a child process."""

from __future__ import annotations

import json
import subprocess
import sys

from triage.heap import YOUNG_THRESHOLD

CHILD = """
import gc, json, weakref
from triage.heap import settle_heap

class Node:
    pass

kept = [Node() for _ in range(100)]  # alive: frozen
garbage = Node(); garbage.self = garbage  # a cycle nobody refers to: freed, not frozen
freed = []
weakref.finalize(garbage, freed.append, True)
del garbage
gc.disable()  # no collection before settle_heap's own
settle_heap()
gc.enable()
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(), "freed": freed}))
"""


def test_settle_heap_frees_garbage_then_freezes_the_rest_and_collects_less_often() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    report = json.loads(out)
    assert report["freed"] == [True]
    assert report["frozen"] >= 100
    assert report["threshold"][0] == YOUNG_THRESHOLD > 700
