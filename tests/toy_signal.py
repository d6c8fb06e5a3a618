"""A toy signal type, declared in this one module as a real one is in transforms/signals/: the
object's size in bytes (4 bytes, big-endian), matched within a slack of its own option, with a
score column of its own. tests/test_signal_plugin.py registers it and follows it through the
options, the hashing, the hash store and matching."""
from typing import Dict, Optional

import numpy as np
import pyarrow as pa

from transforms.signals.base import Option, Pairs, ScoreColumn, Signal


class SizeIndex:
    """Every indexed size against every query: brute force, as a toy may."""

    tables: Dict[str, np.ndarray] = {}

    def __init__(self, values: np.ndarray, ids: np.ndarray):
        self._sizes = np.ascontiguousarray(values).view(">u4").ravel().astype(np.int64)
        self._ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, values: np.ndarray, threshold: int) -> Pairs:
        sizes = np.ascontiguousarray(values).view(">u4").ravel().astype(np.int64)
        distance = np.abs(sizes[:, None] - self._sizes[None, :])
        query, position = np.nonzero(distance <= threshold)
        return query, self._ids[position], distance[query, position].astype(np.int32)


class SizeSignal(Signal):
    name = "toy_size"
    value_bytes = 4
    exact = False
    options = (Option("toy_size_slack", int, 0, 0, 1 << 31, "Toy: largest difference of sizes that matches."),)
    score_columns = (ScoreColumn("toy_size_ratio", pa.float64(), "the smaller size over the larger"),)
    hasher_versions = {"image": "toy-1", "video": "toy-1"}

    def of_bytes(self, data: bytes) -> Optional[bytes]:
        return len(data).to_bytes(4, "big")

    def threshold(self, options) -> int:
        return options["toy_size_slack"]

    def index(self, values: np.ndarray, ids: np.ndarray, tables=None) -> SizeIndex:
        return SizeIndex(values, ids)

    def distance(self, a: bytes, b: bytes) -> int:
        return abs(int.from_bytes(a, "big") - int.from_bytes(b, "big"))

    def scores(self, a: bytes, b: bytes) -> dict:
        sizes = sorted((int.from_bytes(a, "big"), int.from_bytes(b, "big")))
        return {"toy_size_ratio": sizes[0] / sizes[1]}


TOY = SizeSignal()
