"""Region proposals: the rectangles of a picture that are likely to be a picture of their own
(a photo in a screenshot, above or below a caption, in a collage's cell, inside a decorative
frame, pasted over another photo), so that each can be hashed and matched as a whole image is.

Two cheap analyses of the luma that hashing already has (a few milliseconds on its 384-pixel
decode), pure NumPy:
- bands: lines (rows, then columns within a band) that are uniform (a flat UI background, a
  gutter, the space between lines of text) cut the picture into blocks of content, recursively;
  blocks large enough are proposed (text lines are too thin to be);
- edges: long straight step edges (a run of strong gradient along a row or a column, gaps
  bridged) are paired into rectangles whose four sides are mostly such edges (or the picture's own
  border); the best covered are proposed (frames and picture-in-picture have no uniform bands).
A rectangle must be at least MIN_SIDE of the picture's side each way and MIN_AREA of its area, and
not the whole picture; near-duplicates are dropped; at most `limit` are kept, the bands' first.
"""
from itertools import zip_longest
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image

Box = Tuple[int, int, int, int]  # top, bottom, left, right in luma pixels (bottom and right excluded)

MAX_REGIONS = 16  # the most a picture may have hashed (each adds 8 hashes to the store)
ANALYSIS_SIDE = 256  # the longer side the analysis works at, at most
MIN_SIDE = 0.2  # of the picture's height (for a region's height) and width (for its width)
MIN_PIXELS = 32  # a region's shortest side at the analysis's scale (and 64 in the stored picture, see hashing)
MIN_AREA = 0.06
MAX_AREA = 0.92  # larger is the picture itself (or its border trim, hashed already)
UNIFORM_TOLERANCE = 6.0  # grey levels from a line's median
UNIFORM_SHARE = 0.97  # of a line's pixels within the tolerance, for a uniform line
BACKGROUND_TOLERANCE = 10.0  # grey levels from the background's, for a line that cuts bands
EDGE_STEP = 8.0  # grey levels across a line (averaged along it), for an edge pixel
ALONG = 5  # pixels averaged along a line before its step across is measured
EDGE_WINDOW = 7  # gaps bridged: a pixel is on an edge line when this window holds EDGE_HITS edge pixels
EDGE_HITS = 3
MIN_COVER = 0.6  # of a rectangle's side that must be edge
STRIP_COVER = 0.75  # of the one side of a rectangle whose three others are the picture's border
EDGE_CANDIDATES = 16  # strongest lines per direction paired into rectangles
SAME = 0.85  # intersection over union above which two proposals are the same


def propose(luma: np.ndarray, limit: int = 6) -> List[Box]:
    """Up to `limit` rectangles of a picture's luma (H x W) likely to hold a picture of their own,
    in its pixels. The analysis runs on the luma reduced by a whole factor to at most
    ANALYSIS_SIDE pixels on its longer side."""
    if limit <= 0:
        return []
    luma = luma.astype(np.float32, copy=False)
    factor = max(1, -(-max(luma.shape) // ANALYSIS_SIDE))
    if factor == 1:
        return _propose(luma, limit)
    height, width = luma.shape[0] // factor, luma.shape[1] // factor
    small = np.asarray(Image.fromarray(luma).reduce(factor, (0, 0, width * factor, height * factor)))
    found = []
    for top, bottom, left, right in _propose(small, limit):  # sides on the border stay on it
        box = (top * factor, luma.shape[0] if bottom == height else bottom * factor,
               left * factor, luma.shape[1] if right == width else right * factor)
        found.append(_tightened(luma, _refined(luma, box, 2 * factor + 2)))
    return found


def _refined(luma: np.ndarray, box: Box, reach: int) -> Box:
    """A box found at a reduced scale, each side moved to the line, within `reach` pixels, where a
    step across it covers most of the side's length at full scale (the edge of a picture, not the
    bottoms of a line of text above it); the stronger step breaks ties."""
    top, bottom, left, right = box
    height, width = luma.shape

    def best(lines: np.ndarray, at: int, size: int) -> int:  # lines: the picture with lines as rows
        if at <= 0 or at >= size:  # the picture's own border
            return at
        low, high = max(1, at - reach), min(size - 1, at + reach)
        steps = np.abs(lines[low:high + 1] - lines[low - 1:high])
        cover = (steps > EDGE_STEP).mean(axis=1)
        return low + int(np.lexsort((steps.mean(axis=1), np.round(cover, 1)))[-1])

    rows, cols = luma[:, left:right], luma[top:bottom].T
    return best(rows, top, height), best(rows, bottom, height), best(cols, left, width), best(cols, right, width)


def _propose(luma: np.ndarray, limit: int) -> List[Box]:
    height, width = luma.shape
    if min(height, width) < 2 * MIN_PIXELS:
        return []
    rows, cols = _edge_lines(luma), _edge_lines(luma.T)
    row_sums = np.pad(np.cumsum(rows, axis=1, dtype=np.int32), ((0, 0), (1, 0)))
    col_sums = np.pad(np.cumsum(cols, axis=1, dtype=np.int32), ((0, 0), (1, 0)))
    found, raw = [], []
    for box in _bands(luma) + _insets(row_sums, col_sums) + _edges(rows, cols, row_sums, col_sums):
        if _big_enough(box, height, width) and all(_iou(box, other) < SAME for other in raw):
            raw.append(box)
            found.append(_tightened(luma, box))
        if len(found) == limit:
            break
    return found


def _tightened(luma: np.ndarray, box: Box, most: float = 0.05) -> Box:
    """The box less its outer lines that are uniform (a thin border drawn around a pasted picture,
    a line of gutter), at most `most` of its side from each side."""
    top, bottom, left, right = box
    for _ in range(int(most * (bottom - top))):
        if bottom - top > 2 and _uniform(luma[top:top + 1, left:right])[0]:
            top += 1
        elif bottom - top > 2 and _uniform(luma[bottom - 1:bottom, left:right])[0]:
            bottom -= 1
        else:
            break
    for _ in range(int(most * (right - left))):
        if right - left > 2 and _uniform(luma[top:bottom, left:left + 1].T)[0]:
            left += 1
        elif right - left > 2 and _uniform(luma[top:bottom, right - 1:right].T)[0]:
            right -= 1
        else:
            break
    return top, bottom, left, right


def _big_enough(box: Box, height: int, width: int) -> bool:
    top, bottom, left, right = box
    h, w = bottom - top, right - left
    area = h * w / (height * width)
    return (h >= max(MIN_PIXELS, MIN_SIDE * height) and w >= max(MIN_PIXELS, MIN_SIDE * width)
            and MIN_AREA <= area <= MAX_AREA)


def _iou(a: Box, b: Box) -> float:
    top, bottom = max(a[0], b[0]), min(a[1], b[1])
    left, right = max(a[2], b[2]), min(a[3], b[3])
    inter = max(0, bottom - top) * max(0, right - left)
    union = (a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - inter
    return inter / union if union else 0.0


# ------------------------------------------------------------------------------------- bands

def _uniform(lines: np.ndarray, colour: Optional[float] = None) -> np.ndarray:
    """Per line (row of `lines`): whether nearly all its pixels are within the tolerance of its mean
    (and that mean within the tolerance of `colour`, when given)."""
    mean = lines.mean(axis=1, keepdims=True)
    flat = (np.abs(lines - mean) <= UNIFORM_TOLERANCE).mean(axis=1) >= UNIFORM_SHARE
    return flat if colour is None else flat & (np.abs(mean[:, 0] - colour) <= BACKGROUND_TOLERANCE)


def _background(luma: np.ndarray) -> Optional[float]:
    """The grey of the picture's uniform lines, rows and columns (a screen's background, a
    collage's gutters, a caption's band), the most common to the nearest 8 levels; None without."""
    means = [lines.mean(axis=1)[_uniform(lines)] for lines in (luma, luma.T)]
    levels = np.round(np.concatenate(means) / 8).astype(np.int64)
    return float(np.bincount(levels).argmax() * 8) if len(levels) else None


def _runs(content: np.ndarray, min_length: int) -> List[Tuple[int, int]]:
    """(start, end) of the runs of True at least min_length long."""
    edges = np.diff(np.concatenate(([0], content.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends) if e - s >= min_length]


def _bands(luma: np.ndarray, depth: int = 3) -> List[Box]:
    """Blocks of content between uniform lines of the picture's background grey (so that a flat
    stretch of a photo does not cut it), cut rows then columns, `depth` times over; the larger
    blocks first."""
    height, width = luma.shape
    colour = _background(luma)
    if colour is None:
        return []
    min_h, min_w = max(MIN_PIXELS, int(MIN_SIDE * height)), max(MIN_PIXELS, int(MIN_SIDE * width))
    found, todo = [], [((0, height, 0, width), depth)]
    while todo:
        (top, bottom, left, right), left_depth = todo.pop()
        block = luma[top:bottom, left:right]
        for a, b in _runs(~_uniform(block, colour), min_h):
            for c, d in _runs(~_uniform(block[a:b].T, colour), min_w):
                child = (top + a, top + b, left + c, left + d)
                if child == (top, bottom, left, right):
                    continue
                found.append(child)
                if left_depth > 1:
                    todo.append((child, left_depth - 1))
    return sorted(set(found), key=lambda box: -(box[1] - box[0]) * (box[3] - box[2]))


# ------------------------------------------------------------------------------------- edges

def _edge_lines(luma: np.ndarray) -> np.ndarray:
    """(H-1) x W: whether each pixel boundary between rows y and y+1 is on a horizontal edge line
    (strong step, gaps bridged), widened by a row each way (an edge blurred over two rows)."""
    along = np.cumsum(np.pad(luma, ((0, 0), (ALONG // 2 + 1, ALONG // 2)), mode="edge"), axis=1)
    smooth = (along[:, ALONG:] - along[:, :-ALONG]) / ALONG  # averaged along the line: noise damped, steps kept
    strong = (np.abs(np.diff(smooth, axis=0)) > EDGE_STEP).astype(np.int16)
    window = np.cumsum(np.pad(strong, ((0, 0), (EDGE_WINDOW // 2 + 1, EDGE_WINDOW // 2))), axis=1)
    on = (window[:, EDGE_WINDOW:] - window[:, :-EDGE_WINDOW]) >= EDGE_HITS
    widened = on.copy()
    widened[1:] |= on[:-1]
    widened[:-1] |= on[1:]
    return widened


def _candidates(lines: np.ndarray, min_length: int) -> np.ndarray:
    """The strongest lines (most edge pixels, at least min_length), one per neighbourhood of a few
    pixels, strongest first."""
    strength = lines.sum(axis=1)
    chosen = []
    for line in np.argsort(-strength, kind="stable"):
        if strength[line] < min_length or len(chosen) == EDGE_CANDIDATES:
            break
        if all(abs(int(line) - c) > 3 for c in chosen):
            chosen.append(int(line))
    return np.array(chosen, np.int64)


def _side_cover(sums: np.ndarray, lines: np.ndarray, across: np.ndarray, size: int) -> np.ndarray:
    """cover[i, j, k]: the share of edge along line lines[i] from across[j] + 1 to across[k] + 1
    (1 along the picture's own border, line -1 or size - 1). `sums`: cumulative edge per line."""
    rows = sums[np.clip(lines, 0, sums.shape[0] - 1)]
    bound = across + 1  # where the pixels between two lines start, and end
    length = np.maximum(bound[None, :] - bound[:, None], 1)
    cover = (rows[:, None, bound] - rows[:, bound, None]) / length
    cover[(lines < 0) | (lines >= size - 1)] = 1.0
    return cover


def _insets(row_sums: np.ndarray, col_sums: np.ndarray) -> List[Box]:
    """Rectangles inset by the same margin on all four sides (a frame's content) whose sides are
    mostly edge: the innermost (inside a textured frame every margin's sides are edge, up to the
    picture) and the best covered."""
    height, width = row_sums.shape[0] + 1, col_sums.shape[0] + 1
    margins = np.arange(2, int(min(height, width) * (1 - MIN_SIDE) / 2))
    if not len(margins):
        return []
    top, bottom, left, right = margins, height - margins, margins, width - margins

    def cover(sums, line, start, end):
        return (sums[line, end] - sums[line, start]) / (end - start)

    score = np.minimum(np.minimum(cover(row_sums, top - 1, left, right), cover(row_sums, bottom - 1, left, right)),
                       np.minimum(cover(col_sums, left - 1, top, bottom), cover(col_sums, right - 1, top, bottom)))
    covered = np.flatnonzero(score >= MIN_COVER)
    chosen = sorted({int(covered[-1]), int(np.argmax(score))}, reverse=True) if len(covered) else []
    return [(int(top[i]), int(bottom[i]), int(left[i]), int(right[i])) for i in chosen]


def _edges(rows: np.ndarray, cols: np.ndarray, row_sums: np.ndarray, col_sums: np.ndarray) -> List[Box]:
    """Rectangles whose four sides are mostly long straight edges (or the picture's border), the
    best covered first."""
    height, width = rows.shape[0] + 1, cols.shape[0] + 1
    min_h, min_w = max(MIN_PIXELS, int(MIN_SIDE * height)), max(MIN_PIXELS, int(MIN_SIDE * width))
    # a line y is the boundary below pixel row y: a region starts or ends at y + 1 (-1: the top)
    ys = np.unique(np.concatenate(([-1, height - 1], _candidates(rows, min_w))))
    xs = np.unique(np.concatenate(([-1, width - 1], _candidates(cols, min_h))))
    across_h = _side_cover(row_sums, ys, xs, height)  # [top or bottom line, left, right]
    across_v = _side_cover(col_sums, xs, ys, width).transpose(1, 2, 0)  # [top, bottom, left or right line]
    score = np.minimum(np.minimum(across_h[:, None, :, :], across_h[None, :, :, :]),
                       np.minimum(across_v[:, :, :, None], across_v[:, :, None, :]))  # [top, bottom, left, right]
    tall = (ys[None, :] - ys[:, None]) >= min_h
    wide = (xs[None, :] - xs[:, None]) >= min_w
    borders = ((ys == -1)[:, None] * 1 + (ys == height - 1)[None, :])[:, :, None, None] + \
        ((xs == -1)[:, None] * 1 + (xs == width - 1)[None, :])[None, None, :, :]
    # a strip along three borders (a collage's cell without gutters) only behind a nearly whole line
    valid = tall[:, :, None, None] & wide[None, None, :, :] & (score >= MIN_COVER) & ((borders < 3) | (score >= STRIP_COVER))
    t, b, l, r = np.nonzero(valid)
    # the best covered first, taken in turns from those closed by edges on all four sides (a pasted
    # photo) and those on the picture's border (a gutterless collage's cell), so that neither kind
    # crowds the other out of the few kept
    ranked = np.argsort(-score[t, b, l, r], kind="stable")
    inner, outer = ranked[borders[t, b, l, r][ranked] == 0], ranked[borders[t, b, l, r][ranked] > 0]
    order = [i for pair in zip_longest(inner, outer) for i in pair if i is not None]
    return [(int(ys[t[i]] + 1), int(ys[b[i]] + 1), int(xs[l[i]] + 1), int(xs[r[i]] + 1)) for i in order[:64]]
