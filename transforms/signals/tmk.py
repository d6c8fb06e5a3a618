"""TMK+PDQF values: the `.tmk` binary format, the two scores, and the features' arithmetic.

TMK+PDQF (Temporal Match Kernel over PDQ float features, by Meta and FAIR) summarises a video
resampled to 15 frames a second: each frame's 256 PDQ DCT coefficients (not thresholded) are
summed into a pure average, and, L2-normalised, into a cosine and a sine feature for each of 4
periods (in frames) and 32 Fourier coefficients (Poullot's, from modified Bessel functions with
beta = 32); once all frames are in, each cosine and sine feature is L2-normalised and scaled by
the square root of its coefficient.

Two videos are compared in two levels, both in 0..1 and both passing at 0.7 by default:
- level 1: the cosine similarity of their pure averages (cheap: one dot product);
- level 2: for each period, the kernel's best value over every time offset modulo the period,
  divided by what a video scores against itself; the best period's value.

The `.tmk` file is little-endian: a 32-byte header ("TMK1", "FVEC", "PDQF", frames per second,
periods, coefficients, feature dimension, frame count as int32), the periods (int32), the
coefficients, the pure average, then every cosine and every sine feature (float32), period by
period and coefficient by coefficient: 263,344 bytes with the reference settings.
"""
import base64
import binascii
import functools
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np
import pyarrow as pa

from transforms.signals.base import Option, ScoreColumn, Signal

FRAMES_PER_SECOND = 15
PERIODS = (2731, 4391, 9767, 14653)
FEATURE_DIMENSION = 256
LEVEL1_THRESHOLD = 0.7
LEVEL2_THRESHOLD = 0.7

_HEADER = struct.Struct("<4s4s4s5i")
_MAGIC = (b"TMK1", b"FVEC", b"PDQF")


def _bessel_i(order: int, x: float) -> float:
    """The modified Bessel function of the first kind I_order(x), by its power series."""
    half_log = math.log(x / 2)
    return math.fsum(math.exp((2 * k + order) * half_log - math.lgamma(k + 1) - math.lgamma(k + order + 1))
                     for k in range(200))


def poullot_coefficients(count: int = 32, beta: float = 32.0) -> np.ndarray:
    """Poullot's Fourier coefficients a_0 .. a_{count-1} as float32 (they equal the reference's table)."""
    sinh = math.sinh(beta)
    first = (_bessel_i(0, beta) - math.exp(-beta)) / (2 * sinh)
    return np.array([first] + [_bessel_i(j, beta) / sinh for j in range(1, count)], dtype=np.float32)


COEFFICIENTS = poullot_coefficients()
VALUE_BYTES = (_HEADER.size + 4 * len(PERIODS) + 4 * len(COEFFICIENTS) + 4 * FEATURE_DIMENSION
               + 2 * 4 * len(PERIODS) * len(COEFFICIENTS) * FEATURE_DIMENSION)


class TmkFormatError(ValueError):
    """A `.tmk` value that is not a TMK+PDQF feature-vector file with the reference settings."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class TmkFeatures:
    """One video's TMK+PDQF features (float32 arrays, as the file holds them)."""

    frame_count: int  # frames after resampling to 15 a second
    pure_average: np.ndarray  # (256,)
    cos: np.ndarray  # (periods, coefficients, 256)
    sin: np.ndarray  # (periods, coefficients, 256)

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(*_MAGIC, FRAMES_PER_SECOND, len(PERIODS), len(COEFFICIENTS),
                              FEATURE_DIMENSION, self.frame_count)
        return b"".join((header, np.array(PERIODS, "<i4").tobytes(), COEFFICIENTS.astype("<f4").tobytes(),
                         *(np.ascontiguousarray(a, "<f4").tobytes() for a in (self.pure_average, self.cos, self.sin))))


def format_problem(data: bytes) -> Optional[Tuple[str, str]]:
    """(reason, detail) when `data` is not a TMK+PDQF value this project can compare, else None."""
    if len(data) < _HEADER.size:
        return "bad_length", f"{len(data)} bytes, shorter than the header"
    project, kind, algorithm, fps, periods, coefficients, dimension, count = _HEADER.unpack_from(data)
    if (project, kind) != _MAGIC[:2]:
        return "bad_header", f"magic {project!r} {kind!r}, not TMK1 FVEC"
    if algorithm != _MAGIC[2]:
        return "bad_header", f"frame features {algorithm!r}, not PDQF"
    if (fps, periods, coefficients, dimension) != (FRAMES_PER_SECOND, len(PERIODS), len(COEFFICIENTS), FEATURE_DIMENSION):
        return "bad_header", (f"{fps} fps, {periods} periods, {coefficients} coefficients, dimension {dimension}; "
                              f"expected {FRAMES_PER_SECOND}, {len(PERIODS)}, {len(COEFFICIENTS)}, {FEATURE_DIMENSION}")
    if len(data) != VALUE_BYTES:
        return "bad_length", f"{len(data)} bytes, expected {VALUE_BYTES}"
    offset = _HEADER.size
    if tuple(np.frombuffer(data, "<i4", len(PERIODS), offset)) != PERIODS:
        return "bad_header", "periods differ from the reference's"
    offset += 4 * len(PERIODS)
    stored = np.frombuffer(data, "<f4", len(COEFFICIENTS), offset)
    if not np.allclose(stored, COEFFICIENTS, rtol=1e-6, atol=0):
        return "bad_header", "Fourier coefficients differ from the reference's"
    if count < 0:
        return "bad_header", f"frame count {count}"
    if not np.isfinite(np.frombuffer(data, "<f4", offset=offset)).all():
        return "not_finite", "features hold NaN or infinity"
    return None


def from_bytes(data: bytes) -> TmkFeatures:
    """Parse a `.tmk` value (TmkFormatError when malformed)."""
    problem = format_problem(data)
    if problem:
        raise TmkFormatError(*problem)
    count = _HEADER.unpack_from(data)[-1]
    offset = _HEADER.size + 4 * len(PERIODS) + 4 * len(COEFFICIENTS)
    shape = (len(PERIODS), len(COEFFICIENTS), FEATURE_DIMENSION)
    size = int(np.prod(shape))
    pure = np.frombuffer(data, "<f4", FEATURE_DIMENSION, offset)
    offset += 4 * FEATURE_DIMENSION
    cos = np.frombuffer(data, "<f4", size, offset).reshape(shape)
    sin = np.frombuffer(data, "<f4", size, offset + 4 * size).reshape(shape)
    return TmkFeatures(count, pure, cos, sin)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float64."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def level1(a: TmkFeatures, b: TmkFeatures) -> float:
    """The cosine similarity of two videos' pure averages."""
    return float(unit(a.pure_average) @ unit(b.pure_average))


@functools.lru_cache(maxsize=1)
def _kernel_tables():
    """Per period, cos(j * delta) and sin(j * delta) for every offset and j = 1 .. m-1 (float64)."""
    j = np.arange(1, len(COEFFICIENTS))
    tables = []
    for period in PERIODS:
        delta = 2 * np.pi * np.arange(period) / period
        angles = np.outer(delta, j)
        tables.append((np.cos(angles), np.sin(angles)))
    return tables


_NORMALIZER = float(COEFFICIENTS[0]) + 2 * float(COEFFICIENTS[1:].astype(np.float64).sum())


def level2_many(a: TmkFeatures, others_cos: np.ndarray, others_sin: np.ndarray) -> np.ndarray:
    """Level-2 scores of video `a` against N others given as (N, periods, coefficients, 256) cos
    and sin stacks."""
    a_cos, a_sin = a.cos.astype(np.float64), a.sin.astype(np.float64)
    cc = np.einsum("pjd,npjd->npj", a_cos, others_cos)
    ss = np.einsum("pjd,npjd->npj", a_sin, others_sin)
    sc = np.einsum("pjd,npjd->npj", a_sin, others_cos)
    cs = np.einsum("pjd,npjd->npj", a_cos, others_sin)
    best = np.full(len(others_cos), -np.inf)
    for p, (cos_table, sin_table) in enumerate(_kernel_tables()):
        kernel = (cc[:, p, :1] + (cc[:, p, 1:] + ss[:, p, 1:]) @ cos_table.T
                  + (sc[:, p, 1:] - cs[:, p, 1:]) @ sin_table.T)
        best = np.maximum(best, kernel.max(axis=1))
    return best / _NORMALIZER


def level2(a: TmkFeatures, b: TmkFeatures) -> float:
    """The normalised temporal-kernel score of two videos (the best period)."""
    return float(level2_many(a, b.cos[None].astype(np.float64), b.sin[None].astype(np.float64))[0])


# ---------------------------------------------------------------------------- the signal type


def _features_of_rows(packed: np.ndarray, rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The cos and sin stacks (float64) of some packed values."""
    parsed = [from_bytes(packed[row].tobytes()) for row in rows]
    return (np.stack([p.cos for p in parsed]).astype(np.float64),
            np.stack([p.sin for p in parsed]).astype(np.float64))


def pure_averages(packed: np.ndarray) -> np.ndarray:
    """The unit pure-average vectors (N x 256 float32) of packed values, read in place."""
    offset = _HEADER.size + 4 * len(PERIODS) + 4 * len(COEFFICIENTS)
    raw = np.ascontiguousarray(packed[:, offset: offset + 4 * FEATURE_DIMENSION]).view("<f4")
    return unit(raw).astype(np.float32)


class TmkIndex:
    """Packed TMK+PDQF values; a query scores level 1 against all of them at once (one matrix
    product of unit pure averages), then level 2 only for those that pass level 1. Exact: every
    pair passing both thresholds is found. Its table, the unit pure averages (1 KB a video), is
    what a registry cache maps for every process of a machine, beside the values (263 KB a
    video), of which a query reads only the candidates'."""

    def __init__(self, values: np.ndarray, ids: np.ndarray, tables: Optional[Dict[str, np.ndarray]] = None):
        self._values = values
        self._ids = np.asarray(ids, dtype=np.int64)
        pure = (tables or {}).get("pure")
        self._pure = pure if pure is not None and len(pure) == len(values) else pure_averages(values)
        self.tables = {"pure": self._pure}

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, values: np.ndarray, thresholds: Tuple[float, float]):
        """(query position, id, distance) of every pair passing both thresholds, with distance =
        1,000,000 x (1 - level 2), so that the smallest is the best, as for other signal types."""
        first, second = thresholds
        queries, ids, level2_scores = [], [], []
        level1_all = pure_averages(values) @ self._pure.T  # (queries, indexed)
        for query, level1_row in enumerate(level1_all):
            candidates = np.flatnonzero(level1_row >= first - 1e-6)
            if not len(candidates):
                continue
            cos, sin = _features_of_rows(self._values, candidates)
            level2_row = level2_many(from_bytes(values[query].tobytes()), cos, sin)
            keep = level2_row >= second
            queries.append(np.full(keep.sum(), query))
            ids.append(self._ids[candidates[keep]])
            level2_scores.append(level2_row[keep])
        if not queries:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
        distance = np.round((1 - np.concatenate(level2_scores)) * 1e6).astype(np.int64)
        return np.concatenate(queries), np.concatenate(ids), distance


class TmkSignal(Signal):
    """TMK+PDQF values (a whole `.tmk` file), computed by the video decoder in the same pass as the
    frames' PDQ (so PDQ's video hasher version counts its changes: 4 was its arrival), matched by
    the level-1 and level-2 scores, which match rows carry instead of a distance."""

    name = "tmk_pdqf"
    value_bytes = VALUE_BYTES
    exact = False
    has_distance = False
    binary_values = True
    shown_whole = False
    options = (
        Option("tmk_level1", float, LEVEL1_THRESHOLD, 0, 1,
               "TMK+PDQF: least level-1 score (cosine of the pure averages) that matches."),
        Option("tmk_level2", float, LEVEL2_THRESHOLD, 0, 1,
               "TMK+PDQF: least level-2 score (the temporal kernel) that matches."),
    )
    score_columns = (ScoreColumn("tmk_level1", pa.float64(), "cosine of the pure averages"),
                     ScoreColumn("tmk_level2", pa.float64(), "the temporal kernel's normalised score"))
    feed_names = {"ncmec": "TMK_PDQF", "stopncii": "VideoTMK"}

    def validate_raw(self, data: bytes) -> Optional[str]:
        """The reason raw bytes are not a well-formed value, or None."""
        problem = format_problem(data)
        return problem[0] if problem else None

    def validate(self, value: str) -> Optional[str]:
        reason = super().validate(value)
        if reason in (None, "bad_length") and len(value) >= 2 * _HEADER.size:
            return self.validate_raw(bytes.fromhex(value[: len(value) // 2 * 2])) or reason
        return reason

    def threshold(self, options) -> Tuple[float, float]:
        return options["tmk_level1"], options["tmk_level2"]

    def summary(self, value: bytes) -> str:
        """A 263 KB value is shown as the SHA-256 of its bytes."""
        return "sha256:" + hashlib.sha256(value).hexdigest()

    def index(self, values: np.ndarray, ids: np.ndarray, tables=None) -> TmkIndex:
        return TmkIndex(values, ids, tables)

    def scores(self, a: bytes, b: bytes) -> dict:
        """The level-1 and level-2 scores of two values, as match rows carry them."""
        fa, fb = from_bytes(a), from_bytes(b)
        return {"tmk_level1": level1(fa, fb), "tmk_level2": level2(fa, fb)}

    def from_wire(self, payload: bytes) -> str:
        """A TMK+PDQF value as a registry sends it (the raw `.tmk` bytes, their base64, or hex) as the
        hex this project keeps; what is none of these comes back as the hex of its bytes, which
        validation then rejects with its reason."""
        if payload.startswith(_MAGIC[0]):
            return payload.hex()
        text = payload.strip()
        try:
            decoded = base64.b64decode(text, validate=True)
            if decoded.startswith(_MAGIC[0]):
                return decoded.hex()
        except (binascii.Error, ValueError):
            pass
        try:
            if bytes.fromhex(text.decode("ascii")).startswith(_MAGIC[0]):
                return text.decode("ascii").lower()
        except (UnicodeDecodeError, ValueError):
            pass
        return payload.hex()


TMK_PDQF = TmkSignal()

