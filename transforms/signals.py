"""One small class per signal type: validate a registry value, hash bytes, compare two values.

A new signal type is a new class here, registered in SIGNALS; nothing else branches on the name.
Values are lowercase hex strings everywhere outside the PDQ index.
"""
import hashlib
import re
from typing import Dict, Optional


class Signal:
    """A hash kind. `exact` kinds match by equality; the others by distance."""

    name = ""
    hex_length = 0
    exact = True
    _hex = re.compile(r"[0-9a-f]*\Z")

    @classmethod
    def normalize(cls, value: str) -> str:
        return value.strip().lower()

    @classmethod
    def validate(cls, value: str) -> Optional[str]:
        """The reason a normalized value is malformed, or None when it is well formed."""
        if not value:
            return "missing_value"
        if not cls._hex.match(value):
            return "not_hex"
        if len(value) != cls.hex_length:
            return "bad_length"
        return None


class _Digest(Signal):
    algorithm = ""

    @classmethod
    def hash_bytes(cls, data: bytes) -> str:
        return hashlib.new(cls.algorithm, data).hexdigest()


class Md5Signal(_Digest):
    name = algorithm = "md5"
    hex_length = 32


class Sha1Signal(_Digest):
    name = algorithm = "sha1"
    hex_length = 40


class Sha256Signal(_Digest):
    name = algorithm = "sha256"
    hex_length = 64


class PdqSignal(Signal):
    """PDQ: 256 bits, compared by Hamming distance (hashing itself is in image_hashing)."""

    name = "pdq"
    hex_length = 64
    exact = False

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()


SIGNALS: Dict[str, type] = {s.name: s for s in (PdqSignal, Md5Signal, Sha1Signal, Sha256Signal)}
EXACT_SIGNALS = tuple(s for s in SIGNALS.values() if s.exact)


def exact_hashes(data: bytes) -> Dict[str, str]:
    """Every exact signal of the bytes, e.g. {'md5': ..., 'sha1': ..., 'sha256': ...}."""
    return {s.name: s.hash_bytes(data) for s in EXACT_SIGNALS}
