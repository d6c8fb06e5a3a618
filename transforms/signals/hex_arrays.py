"""Hex text to packed bytes and back, a whole column at a time (NumPy lookups, no Python loop):
how a registry of millions of rows is validated and written without a Python string per value."""
from typing import Tuple

import numpy as np
import pyarrow as pa

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLE = np.full(256, 255, dtype=np.uint8)  # byte -> its hex digit's value; 255: not a hex digit
_NIBBLE[_DIGITS] = np.arange(16)
_NIBBLE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16)
# two bytes (as a little-endian uint16) -> the byte their two hex digits spell; >= 256: not hex digits
_LOW, _HIGH = np.meshgrid(np.arange(256), np.arange(256))
_PAIR = np.where((_NIBBLE[_LOW] < 16) & (_NIBBLE[_HIGH] < 16),
                 (_NIBBLE[_LOW].astype(np.uint16) << 4) | _NIBBLE[_HIGH], 0xFFFF).astype(np.uint16).ravel()


def fixed_width_chars(column: pa.Array, width: int) -> np.ndarray:
    """The bytes of a string or binary column whose every value is `width` bytes long, as an
    N x width uint8 array (a view of the column's data, not a copy)."""
    column = column.cast(pa.binary()) if not pa.types.is_binary(column.type) else column
    if len(column) == 0:
        return np.empty((0, width), np.uint8)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset : column.offset + len(column) + 1]
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(column), width)


def unhex(chars: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """N x 2B hex digits (either case) -> (N x B packed bytes, N booleans: the row was all hex digits)."""
    pairs = _PAIR[np.ascontiguousarray(chars).view("<u2")]  # two digits at a time: a third of the lookups
    return pairs.astype(np.uint8), (pairs < 256).all(axis=1)


def hex_column(packed: np.ndarray) -> pa.Array:
    """N x B packed bytes -> a string column of their lowercase hex."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    rows, width = packed.shape
    chars = np.empty((rows, 2 * width), dtype=np.uint8)
    chars[:, 0::2] = _DIGITS[packed >> 4]
    chars[:, 1::2] = _DIGITS[packed & 15]
    offsets = np.arange(rows + 1, dtype=np.int32) * (2 * width)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(chars))
