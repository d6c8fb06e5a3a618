"""A limit on the bytes of the objects in flight in one worker process: every read-and-hash holds its
object's size (as listed; the size cap where the listing gives none) until its bytes are done
with, and waits while the process's other reads hold too much. One object larger than the whole
limit still runs, alone, so the limit bounds memory without ever stopping a run.
"""
import threading
from contextlib import contextmanager
from typing import Dict

_LIMITS: Dict[int, "InflightBytes"] = {}
_LOCK = threading.Lock()


class InflightBytes:
    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("a byte budget must be at least 1 byte")
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most ever held at once
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, size: int):
        size = max(1, min(int(size), self.limit))
        with self._changed:
            while self.used and self.used + size > self.limit:
                self._changed.wait()
            self.used += size
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with self._changed:
                self.used -= size
                self._changed.notify_all()


def process_inflight(limit: int) -> InflightBytes:
    """The budget of this process for `limit` (every DoFn instance in the process shares it)."""
    with _LOCK:
        budget = _LIMITS.get(limit)
        if budget is None:
            budget = _LIMITS[limit] = InflightBytes(limit)
        return budget
