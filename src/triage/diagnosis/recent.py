"""RecentErrors: the last errors the scorer diagnosed, for the work it does beside the requests (live
root-cause ranking, the pattern scan), as a DataFrame.

The request path only appends a tuple. Rows become pandas columns when a reader first asks for them, in
chunks, and each row is converted once: turning the whole window (up to 100,000 rows of Python objects) into
a DataFrame on every read held the GIL for 100+ ms a round and stalled the requests behind it.
"""

from __future__ import annotations

import threading
from collections import deque

import pandas as pd

#: One row per error: event time (timezone-aware), service, level, template id, template text, content.
COLUMNS = ("ts", "service", "level", "template_id", "template", "content")
MAX_CHUNKS = 64


class RecentErrors:
    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        # Appends (the event loop) and the reader's pops (a background thread) are each atomic on a deque; a
        # bounded one drops its oldest rows itself when nobody reads for a while.
        self._incoming: deque[tuple] = deque(maxlen=capacity)
        self._chunks: list[pd.DataFrame] = []
        self._rows = 0  # in _chunks
        self._read_lock = threading.Lock()
        self.appended = 0  # ever; a reader compares it to skip work when nothing is new

    def append(self, ts, service: str, level: str | None, template_id: str, template: str, content: str) -> None:
        self._incoming.append((ts, service, level, template_id, template, content))
        self.appended += 1  # only the request path writes it

    def __len__(self) -> int:
        return min(self.capacity, self._rows + len(self._incoming))

    def frame(self) -> pd.DataFrame:
        """The last ``capacity`` errors, oldest first, ``ts`` as UTC datetimes (a new frame: callers may
        change it)."""
        with self._read_lock:
            self._take_incoming()
            if not self._chunks:
                empty = pd.DataFrame(columns=list(COLUMNS), dtype=object)
                empty["ts"] = pd.to_datetime(empty["ts"], utc=True)
                return empty
            return pd.concat(self._chunks, ignore_index=True)

    def _take_incoming(self) -> None:
        waiting = len(self._incoming)  # only this reader pops, so at least this many stay there
        if not waiting:
            return
        pop = self._incoming.popleft
        chunk = pd.DataFrame([pop() for _ in range(waiting)], columns=list(COLUMNS))
        chunk["ts"] = pd.to_datetime(chunk["ts"], utc=True)
        self._chunks.append(chunk)
        self._rows += len(chunk)
        if len(self._chunks) > MAX_CHUNKS:  # a trickle of errors makes many small chunks: keep concat cheap
            self._chunks = [pd.concat(self._chunks, ignore_index=True)]
        while self._rows - len(self._chunks[0]) >= self.capacity:
            self._rows -= len(self._chunks.pop(0))
        if self._rows > self.capacity:
            excess = self._rows - self.capacity
            self._chunks[0] = self._chunks[0].iloc[excess:]
            self._rows -= excess
