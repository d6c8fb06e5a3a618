"""The PDQ signal type: PDQ's arithmetic over a picture's luma (whole or from a reduced decode),
the dihedral variants, and the `Signal` of PDQ values (256 bits, compared by Hamming distance).

PDQ (the reference hasher) turns luma into a 64 x 64 grid by a box filter of width
ceil(side / 128) applied twice along each axis, then samples 64 points per axis; then a 16 x 16
DCT, whose coefficients above their median are the hash bits, and a quality from the grid's
gradients; turning the grid gives the hashes of the picture's rotations and mirrors. Decoding a 12-megapixel JPEG in full and filtering it costs far more than the hash.

Here the filter and sampling are written as two small matrices (64 x rows and 64 x columns),
built exactly as PDQ's box filters and decimation act on the full-resolution size, then folded
onto the grid of a reduced decode (JPEG's DCT scaling, or an integer box reduction): each reduced
pixel gets the summed weight of the full-resolution pixels it stands for. The rest (DCT, median,
quality) repeats PDQ's arithmetic in NumPy. Within-pixel detail at the reduced scale is the only
thing lost; the bit differences from full-resolution hashing are measured in
benchmarks/image_hashing.py.
"""
import functools
import math
from typing import Dict, Optional

import numpy as np
import pdqhash

from transforms.signals.base import Option, Signal

GRID = 64
# PDQ's 16 x 64 DCT basis (rows 1..16 of the 64-point DCT-II): a 64 x 64 grid G gives DCT @ G @ DCT.T.
DCT = np.array(
    [[math.sqrt(2.0 / 64.0) * math.cos((math.pi / 2 / 64.0) * (i + 1) * (2 * j + 1)) for j in range(64)] for i in range(16)]
)


def _window(side: int) -> int:
    """PDQ's computeJaroszFilterWindowSize(side, 64)."""
    return (side + 2 * GRID - 1) // (2 * GRID)


@functools.lru_cache(maxsize=64)  # at most 64 x 64 x side x 8 bytes: a few tens of MB
def _operator(full: int, reduced: int) -> np.ndarray:
    """64 x `reduced` weights: PDQ's two box passes and sampling along an axis of `full` pixels,
    folded onto `reduced` pixels that each stand for full / reduced of them."""
    window = _window(full)
    half = (window + 2) // 2
    position = np.arange(full)
    low = np.maximum(position - (window - half), 0)  # PDQ's box1DFloat: [o - (w - h), o + h - 1]
    high = np.minimum(position + half - 1, full - 1)
    count = (high - low + 1).astype(np.float64)
    rows = np.zeros((GRID, full))
    for i in range(GRID):
        centre = int(((i + 0.5) * full) / GRID)
        inner = np.arange(low[centre], high[centre] + 1)  # the first pass, seen from the sample
        weight = 1.0 / (count[centre] * count[inner])
        steps = np.zeros(full + 1)
        np.add.at(steps, low[inner], weight)
        np.add.at(steps, high[inner] + 1, -weight)
        rows[i] = np.cumsum(steps)[:full]
    if reduced == full:
        return rows
    folded = np.zeros((GRID, reduced))
    np.add.at(folded.T, np.minimum(position * reduced // full, reduced - 1), rows.T)
    return folded


# The seven other members of the dihedral group (rotations, mirrors), as PDQ names them; each
# maps a picture's 64 x 64 grid to the grid of the picture so transformed.
DIHEDRAL = {
    "rotate90": lambda g: np.rot90(g, 1),
    "rotate180": lambda g: np.rot90(g, 2),
    "rotate270": lambda g: np.rot90(g, 3),
    "flip_x": lambda g: g[:, ::-1],
    "flip_y": lambda g: g[::-1, :],
    "flip_plus1": lambda g: g.T,
    "flip_minus1": lambda g: np.rot90(g, 2).T,
}


def _hash_of_grid(grid: np.ndarray) -> bytes:
    coefficients = (DCT @ grid @ DCT.T).ravel()  # bit i * 16 + j is coefficient [i][j]
    median = np.partition(coefficients, 127)[127]  # PDQ's torben median of 256 values
    return np.packbits(coefficients[::-1] > median).tobytes()  # bit 255 first, as PDQ's hex is written


def pdq_of_luma(luma: np.ndarray, full_height: int, full_width: int):
    """(32-byte hash, quality, hashes of the 7 dihedral transforms in DIHEDRAL's order) of a picture
    whose luma (0..255, any reduced size) stands for full_height x full_width pixels."""
    height, width = luma.shape
    grid = _operator(full_height, height) @ luma.astype(np.float64) @ _operator(full_width, width).T
    gradients = np.abs(np.trunc((grid[:-1, :] - grid[1:, :]) * 100 / 255)).sum() + np.abs(
        np.trunc((grid[:, :-1] - grid[:, 1:]) * 100 / 255)
    ).sum()
    quality = min(100, int(gradients) // 90)
    return _hash_of_grid(grid), quality, tuple(_hash_of_grid(turn(grid)) for turn in DIHEDRAL.values())


class PdqSignal(Signal):
    """PDQ values, computed by the decoders from every picture and sampled video frame (see
    media/images.py), matched within a Hamming distance."""

    name = "pdq"
    value_bytes = 32
    exact = False
    options = (Option("pdq_threshold", int, 31, 0, 256, "Largest PDQ distance that matches."),)
    # the version of the pictures' hashing and of the videos' (4: videos gained TMK+PDQF; pictures
    # 4: their regions, media/regions.py; 5: regions cut at seams and frames' margins refined,
    # videos' keyframes gained regions)
    hasher_versions = {"image": f"5/pdqhash-{pdqhash.__version__}", "video": f"5/pdqhash-{pdqhash.__version__}"}
    feed_names = {"ncmec": "PDQ", "stopncii": "ImagePDQ"}
    # Fewer values than this are compared one by one: a PdqIndex's fixed tables (134 MB to clear)
    # cost more than brute force over a few thousand hashes. Both answer exactly the same pairs.
    brute_force_below = 4096

    def index(self, values: np.ndarray, ids: np.ndarray, tables: Optional[Dict[str, np.ndarray]] = None):
        # imported here: numba's import (a third of a second) is paid by the matchers alone, not
        # by every command that names the signal types (report, review, feedback)
        from transforms.signals.pdq_index import PdqBruteForceIndex, PdqIndex  # noqa: PLC0415
        if len(values) < self.brute_force_below:
            return PdqBruteForceIndex(values, ids)
        return PdqIndex(values, ids, tables)

    def threshold(self, options) -> int:
        return options["pdq_threshold"]

    def distance(self, a: bytes, b: bytes) -> int:
        return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


PDQ = PdqSignal()
