"""What every signal type offers, and the hash value that stages pass around.

A signal type (PDQ, MD5, ...) is one module of this package with one `Signal` object that
declares all that is its own: its name and its names in each feed, its command-line options with
their defaults and bounds and the threshold they make, the match-row score columns it fills, the
version of its hashing per media type, how it is computed from an object's bytes (or that the
decoders compute it), how a registry value is normalised and validated, an index over many values,
and the comparison of two. The rest of the code loops over `SIGNALS` and names no type.

Values are bytes from hashing to the store and the index (packed into N x value_bytes uint8
arrays for indexes and batches); hex appears only at the edges: registry files, feeds, reports.
"""
import re
from typing import Dict, Mapping, NamedTuple, Optional, Protocol, Sequence, Tuple

import numpy as np
import pyarrow as pa

_HEX = re.compile(r"[0-9a-f]*\Z")


def is_derived(variant: str) -> bool:
    """Whether a hash variant stands for a rotation or mirror of the picture ("trimmed/flip_x")."""
    return "/" in variant


class SignalHash(NamedTuple):
    """One hash of an object: the object's bytes, a picture, or a picture's variant (border-trimmed,
    rotated, mirrored), with its quality and time when it is a frame."""

    value: bytes
    variant: str = "original"  # "original", "trimmed", "original/rotate90", "trimmed/flip_x", ...
    quality: Optional[int] = None  # 0..100 where the signal has one
    time_s: Optional[float] = None  # a frame's time in a video or animation

    @property
    def derived(self) -> bool:
        """Whether this hash stands for a rotation or mirror of the picture, not the picture."""
        return is_derived(self.variant)


class Option(NamedTuple):
    """A command-line option of a signal type (`--{name}`), its default and its bounds."""

    name: str
    type: type
    default: object
    low: float
    high: float
    help: str


class ScoreColumn(NamedTuple):
    """A match-row column that a signal type's `scores` fills (null in other types' rows)."""

    name: str
    type: pa.DataType
    doc: str

Pairs = Tuple[np.ndarray, np.ndarray, np.ndarray]


class Index(Protocol):
    tables: Dict[str, np.ndarray]  # what it built from the values and ids (empty: cheap to build again)

    def __len__(self) -> int: ...

    def query(self, values: np.ndarray, threshold: int) -> Pairs:
        """(query position, id, distance) of every indexed value within `threshold` of a packed query."""


class Signal:
    """A signal type: `exact` ones match by equality (distance 0), the others by a distance."""

    name = ""
    value_bytes = 0
    exact = True
    has_distance = True  # match rows report the distance (TMK+PDQF reports its scores instead)
    # registries may send values as raw bytes (a Parquet binary column, a fetched link), kept so;
    # such a signal type also has `validate_raw(bytes)` and `from_wire(payload)`
    binary_values = False
    options: Tuple[Option, ...] = ()  # its own matching options
    score_columns: Tuple[ScoreColumn, ...] = ()
    # media type -> the version of its hashing there: a change of output bumps it, so that later
    # scans hash again the objects hashed before (a type with no entry is computed by no decoder)
    hasher_versions: Mapping[str, str] = {}
    feed_names: Mapping[str, str] = {}  # feed -> what that feed calls this type ("ncmec": "PDQ")
    shown_whole = True  # match rows show the value itself (`summary`), so feedback can name it

    @property
    def hex_length(self) -> int:
        return 2 * self.value_bytes

    def of_bytes(self, data: bytes) -> Optional[bytes]:
        """The value of an object's bytes, for a type computed from them (None: the decoders
        compute it from the decoded pictures or frames)."""
        return None

    def threshold(self, options: Mapping[str, object]):
        """What a value's index query takes as its threshold, from this type's option values
        (`options`, by option name): 0 for an exact type."""
        return 0

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

    def pack(self, values: Sequence[bytes]) -> np.ndarray:
        """Values -> an N x value_bytes uint8 array."""
        return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, self.value_bytes)

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

    def distance(self, a: bytes, b: bytes) -> int:
        raise NotImplementedError

    def summary(self, value: bytes) -> str:
        """The value as match rows show it: its hex (or a digest of a large one)."""
        return value.hex()

    def scores(self, a: bytes, b: bytes) -> dict:
        """The values of this type's `score_columns` for a pair of values."""
        return {}
