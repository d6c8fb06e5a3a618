"""The exact signal types: MD5, SHA-1 and SHA-256 of an object's bytes, matched by equality."""
import hashlib
from typing import Dict, Mapping

import numpy as np

from transforms.signals.base import Pairs, Signal


def _prefix(values: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each packed value as one integer: the sort key."""
    return np.ascontiguousarray(values[:, :8]).view("<u8").ravel()


class ExactIndex:
    """Packed values sorted by their first 8 bytes; a query finds its run of equal keys by binary
    search (vectorised) and keeps the candidates equal in every byte. Distance is always 0."""

    tables: Dict[str, np.ndarray] = {}  # sorting again costs little

    def __init__(self, values: np.ndarray, ids: np.ndarray):
        keys = _prefix(values)
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self._values = values[self._order]
        self._ids = np.asarray(ids, dtype=np.int64)[self._order]

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, values: np.ndarray, threshold: int = 0) -> Pairs:
        keys = _prefix(values)
        low = np.searchsorted(self._keys, keys, "left")
        count = np.searchsorted(self._keys, keys, "right") - low
        query = np.repeat(np.arange(len(values)), count)
        position = np.repeat(low - np.cumsum(count) + count, count) + np.arange(count.sum())
        same = (self._values[position] == values[query]).all(axis=1)
        query, position = query[same], position[same]
        return query, self._ids[position], np.zeros(len(query), dtype=np.int32)


class Digest(Signal):
    """A cryptographic digest of the bytes, named as hashlib names it; computed from every
    object's bytes, the same for every version of the hashing (so it has none)."""

    def __init__(self, name: str, feed_names: Mapping[str, str]):
        self.name = name
        self.value_bytes = hashlib.new(name).digest_size
        self.feed_names = feed_names

    def of_bytes(self, data: bytes) -> bytes:
        return hashlib.new(self.name, data).digest()

    def index(self, values: np.ndarray, ids: np.ndarray, tables=None) -> ExactIndex:
        return ExactIndex(values, ids)

    def distance(self, a: bytes, b: bytes) -> int:
        return 0 if a == b else 1


DIGESTS = (Digest("md5", {"ncmec": "MD5", "stopncii": "VideoMD5"}), Digest("sha1", {"ncmec": "SHA1"}),
           Digest("sha256", {}))
