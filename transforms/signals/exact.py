"""The exact signal types: MD5, SHA-1 and SHA-256 of an object's bytes, matched by equality."""
import hashlib
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import numpy as np

from transforms.signals.base import Signal


class ExactIndex:
    """Value -> the ids that hold it; a query's distance is always 0."""

    def __init__(self, values: Sequence[str], ids: np.ndarray):
        self._ids: Dict[str, List[int]] = defaultdict(list)
        for value, id_ in zip(values, ids.tolist()):
            self._ids[value].append(id_)
        self._size = len(ids)

    def __len__(self) -> int:
        return self._size

    def query(self, values: Sequence[str], threshold: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = [(q, id_) for q, value in enumerate(values) for id_ in self._ids.get(value, ())]
        found = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        return found[:, 0], found[:, 1], np.zeros(len(found), dtype=np.int32)


class Digest(Signal):
    """A cryptographic digest of the bytes, named as hashlib names it."""

    def __init__(self, name: str, hex_length: int):
        self.name = name
        self.hex_length = hex_length

    def of_bytes(self, data: bytes) -> str:
        return hashlib.new(self.name, data).hexdigest()

    def index(self, values: Sequence[str], ids: np.ndarray) -> ExactIndex:
        return ExactIndex(values, ids)

    def distance(self, a: str, b: str) -> int:
        return 0 if a == b else 1


DIGESTS = (Digest("md5", 32), Digest("sha1", 40), Digest("sha256", 64))


def digests_of(data: bytes) -> Dict[str, str]:
    """Every exact signal of the bytes, e.g. {'md5': ..., 'sha1': ..., 'sha256': ...}."""
    return {digest.name: digest.of_bytes(data) for digest in DIGESTS}
