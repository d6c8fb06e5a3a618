"""Find a uniform border (letterbox, pillarbox, padding to a square) around a picture.

Re-uploads often gain bars, and PDQ does not survive them (a barred copy is 60 to 140 bits from
the original), so pictures with a border are hashed twice: as they are and with the border cut.
A border line must be flat (tiny spread of brightness along it) and of the colour of the outermost
line; a side counts only if its bar is at least `min_bar` of the picture, and the content left must
be at least `min_keep` of it. Dark pictures keep their structure: their lines are not flat.

A picture may have near-flat margins of its own (a night sky, a dark studio backdrop) that the bars
added to it merge with: `trims` gives, besides the trim above, a strict one (only what is of the
outermost line's very colour: an editor's bars are exact, a photo's margins are not) and one that
cuts only the pair of sides with the larger bars (the photo's own margins across the pillarbox
bars are kept), each once.
"""
from typing import List, Optional, Tuple

import numpy as np

def _bar_length(lines: np.ndarray, flatness: float, colour_tolerance: float) -> int:
    """How many of the lines (first = outermost) are flat and of the outermost line's colour."""
    spread = lines.max(axis=1) - lines.min(axis=1)
    means = lines.mean(axis=1)
    border = (spread <= flatness) & (np.abs(means - means[0]) <= colour_tolerance)
    return len(border) if border.all() else int(np.argmin(border))


def content_box(
    luma: np.ndarray,
    flatness: float = 12.0,
    colour_tolerance: float = 8.0,
    min_bar: float = 0.02,
    min_keep: float = 0.2,
) -> Optional[Tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the picture (its H x W luma) inside a uniform border, or
    None if there is none."""
    height, width = luma.shape
    if height < 16 or width < 16:
        return None
    luma = luma.astype(np.float32)
    bars = [
        _bar_length(luma, flatness, colour_tolerance),  # top
        _bar_length(luma[::-1], flatness, colour_tolerance),  # bottom
        _bar_length(luma.T, flatness, colour_tolerance),  # left
        _bar_length(luma.T[::-1], flatness, colour_tolerance),  # right
    ]
    sizes = (height, height, width, width)
    bars = [bar if bar >= min_bar * size else 0 for bar, size in zip(bars, sizes)]
    top, bottom, left, right = bars
    if not any(bars) or height - top - bottom < min_keep * height or width - left - right < min_keep * width:
        return None
    return top, height - bottom, left, width - right


STRICT = {"flatness": 6.0, "colour_tolerance": 2.0}


def trims(luma: np.ndarray) -> List[Tuple[str, Tuple[int, int, int, int]]]:
    """(variant, box) of each distinct trim of the picture: "trimmed" (content_box), "trimmed-strict"
    (content_box with STRICT thresholds) and "trimmed-pair" (only the pair of sides with the larger
    bars of "trimmed" cut)."""
    found = []
    box = content_box(luma)
    if box is not None:
        top, bottom, left, right = box
        height, width = luma.shape
        rows, cols = top + height - bottom, left + width - right
        pair = (top, bottom, 0, width) if rows >= cols else (0, height, left, right)
        found += [("trimmed", box), ("trimmed-pair", pair)]
    strict = content_box(luma, **STRICT)
    if strict is not None:
        found.append(("trimmed-strict", strict))
    distinct, seen = [], {(0, luma.shape[0], 0, luma.shape[1])}
    for variant, box in found:
        if box not in seen:
            seen.add(box)
            distinct.append((variant, box))
    return distinct
