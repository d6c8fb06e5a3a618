"""What every signal type offers, and the hash value that stages pass around.

A signal type (PDQ, MD5, ...) is one module of this package with one `Signal` object: it
normalises and validates a registry value, builds an index over many values, and compares two
values. Computing it is the module's own function (from decoded pictures for PDQ, from bytes for
the exact digests), called by the media stage.
"""
import re
from typing import NamedTuple, Optional, Protocol, Sequence, Tuple

import numpy as np

_HEX = re.compile(r"[0-9a-f]*\Z")


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
        return "/" in self.variant


class Index(Protocol):
    def __len__(self) -> int: ...

    def query(self, values: Sequence[str], threshold: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query position, id, distance) of every indexed value within `threshold` of a query."""


class Signal:
    """A signal type: `exact` ones match by equality (distance 0), the others by a distance."""

    name = ""
    hex_length = 0
    exact = True

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

    def index(self, values: Sequence[str], ids: np.ndarray) -> Index:
        """An index over well-formed values, answering with `ids`."""
        raise NotImplementedError

    def distance(self, a: str, b: str) -> int:
        raise NotImplementedError
