"""What every signal type offers, and the hash value that stages pass around.

A signal type (PDQ, MD5, ...) is one module of this package with one `Signal` object: it
normalises and validates a registry value, packs values into an N x bytes uint8 array (the form
indexes, the hash store and batches use), builds an index over many packed values, finds every
pair within a distance between two sets, and compares two values. Computing it is the module's
own function (from decoded pictures for PDQ, from bytes for the exact digests), called by the
media stage.
"""
import re
from typing import Dict, NamedTuple, Optional, Protocol, Sequence, Tuple

import numpy as np

_HEX = re.compile(r"[0-9a-f]*\Z")


def is_derived(variant: str) -> bool:
    """Whether a hash variant stands for a rotation or mirror of the picture ("trimmed/flip_x")."""
    return "/" in variant


class SignalHash(NamedTuple):
    """One hash of an object: the object's bytes, a picture, or a picture's variant (border-trimmed,
    rotated, mirrored), with its quality and time when it is a frame."""

    value: str  # lowercase hex
    variant: str = "original"  # "original", "trimmed", "original/rotate90", "trimmed/flip_x", ...
    quality: Optional[int] = None  # 0..100 where the signal has one
    time_s: Optional[float] = None  # a frame's time in a video or animation

    @property
    def derived(self) -> bool:
        """Whether this hash stands for a rotation or mirror of the picture, not the picture."""
        return is_derived(self.variant)


# Match-row columns that a signal type's `scores` may fill.
SCORE_COLUMNS = ("tmk_level1", "tmk_level2")

Pairs = Tuple[np.ndarray, np.ndarray, np.ndarray]


class Index(Protocol):
    tables: Dict[str, np.ndarray]  # what it built from the values and ids (empty: cheap to build again)

    def __len__(self) -> int: ...

    def query(self, values: np.ndarray, threshold: int) -> Pairs:
        """(query position, id, distance) of every indexed value within `threshold` of a packed query."""


class Signal:
    """A signal type: `exact` ones match by equality (distance 0), the others by a distance."""

    name = ""
    hex_length = 0
    exact = True
    has_distance = True  # match rows report the distance (TMK+PDQF reports its scores instead)
    # registries may send values as raw bytes (a Parquet binary column, a fetched link), kept so;
    # such a signal type also has `validate_raw(bytes)` and `from_wire(payload)`
    binary_values = False

    def normalize(self, value: str) -> str:
        return value.strip().lower()

    def validate(self, value: str) -> Optional[str]:
        """The reason a normalized value is malformed, or None when it is well formed."""
        if not value:
            return "missing_value"
        if not _HEX.match(value):
            return "not_hex"
        if len(value) != self.hex_length:
            return "bad_length"
        return None

    @property
    def value_bytes(self) -> int:
        return self.hex_length // 2

    def pack(self, values: Sequence[str]) -> np.ndarray:
        """Well-formed hex values -> an N x value_bytes uint8 array."""
        return np.frombuffer(b"".join(bytes.fromhex(v) for v in values), dtype=np.uint8).reshape(-1, self.value_bytes)

    def index(self, values: np.ndarray, ids: np.ndarray, tables: Optional[Dict[str, np.ndarray]] = None) -> Index:
        """An index over packed values, answering with `ids`; `tables`, what an index of the same
        values exposed as its `tables`, spares building it again (a cached registry's)."""
        raise NotImplementedError

    def pairs(self, a: np.ndarray, b: np.ndarray, threshold: int) -> Pairs:
        """(position in a, position in b, distance) of every pair within `threshold`. The larger
        side is indexed and the smaller one queried: building costs little per value, a query a
        lot, so a few new registry entries against millions of stored hashes cost a build and a
        few queries rather than millions of queries."""
        if len(a) == 0 or len(b) == 0:
            empty = np.empty(0, np.int64)
            return empty, empty, np.empty(0, np.int32)
        if len(a) >= len(b):
            in_b, in_a, distance = self.index(a, np.arange(len(a))).query(b, threshold)
        else:
            in_a, in_b, distance = self.index(b, np.arange(len(b))).query(a, threshold)
        return in_a, in_b, distance

    def distance(self, a: str, b: str) -> int:
        raise NotImplementedError

    def summary(self, value: str) -> str:
        """The value as match rows show it (the value itself, or a digest of a large one)."""
        return value

    def scores(self, a: str, b: str) -> dict:
        """Match-row columns of their own that a pair of values fills (SCORE_COLUMNS)."""
        return {}
