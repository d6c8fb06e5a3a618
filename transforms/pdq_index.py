"""Find every registry PDQ hash within a Hamming distance of each query hash.

`PdqBruteForceIndex` compares each query with every registry hash (XOR and popcount over four
64-bit words, in NumPy): exact by construction, and the reference the faster indexes are tested
against.
"""
from typing import Tuple

import numpy as np

HASH_BYTES = 32


def hashes_from_hex(values) -> np.ndarray:
    """Hex PDQ strings -> an N x 32 uint8 array."""
    return np.frombuffer(b"".join(bytes.fromhex(v) for v in values), dtype=np.uint8).reshape(-1, HASH_BYTES)


class PdqBruteForceIndex:
    """Build from an N x 32 uint8 array and N integer ids; query a batch of hashes."""

    def __init__(self, hashes: np.ndarray, ids: np.ndarray):
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        if len(hashes) != len(ids):
            raise ValueError(f"{len(hashes)} hashes but {len(ids)} ids")
        self._words = hashes.view(np.uint64)  # N x 4
        self._ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, queries: np.ndarray, threshold: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, id, distance) of every pair at distance <= threshold."""
        words = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES).view(np.uint64)
        found_query, found_row, found_distance = [], [], []
        for q, query in enumerate(words):
            distances = np.bitwise_count(self._words ^ query).sum(axis=1, dtype=np.int32)
            rows = np.flatnonzero(distances <= threshold)
            found_query.append(np.full(len(rows), q, dtype=np.int64))
            found_row.append(rows)
            found_distance.append(distances[rows])
        if not found_query:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        rows = np.concatenate(found_row)
        return np.concatenate(found_query), self._ids[rows], np.concatenate(found_distance)
