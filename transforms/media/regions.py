"""Region proposals: the rectangles of a picture that are likely to be a picture of their own
(a photo in a screenshot, above or below a caption, in a collage's cell, inside a decorative
frame, pasted over another photo), so that each can be hashed and matched as a whole image is.

Three cheap analyses of the luma that hashing already has (a few milliseconds on its 384-pixel
decode), pure NumPy, on that luma reduced to at most ANALYSIS_SIDE pixels:
- insets: rectangles inset by one margin on all four sides whose sides are edge (a frame);
- bands: lines (rows, then columns within a band) that are uniform in the background's grey (a
  flat UI background, a gutter, the space between lines of text) or seams (a straight edge across
  the whole block: a gutterless collage's cut) cut the picture into blocks, recursively; blocks
  large enough are proposed, those not cut further first (text lines are too thin to be);
- edges: long straight step edges (a run of strong gradient along a row or a column, gaps
  bridged) are paired into rectangles whose four sides are mostly such edges (or the picture's own
  border); the best covered are proposed, less for sides that run on past the corners (a pasted
  photo's edges stop there, the longer edges of what it is pasted over do not).
A rectangle must be at least MIN_SIDE of the picture's side each way and MIN_AREA of its area, and
not the whole picture; near-duplicates are dropped; at most `limit` are kept, in that order.
Each is then placed at full scale: an inset at the one margin where all four sides step, a band
less the line of text the reduction merged into it, every side on the nearby line that steps
along most of it (innermost of equals: a photo's edge, not its gutter's or its thin border's).
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
MAX_ASPECT = 2.2  # longer side over shorter: a strip squeezed into PDQ's square keeps little of its structure
# (regions of two different photos, 256 x 660 and 266 x 310, were 20 bits apart in 1,000 photos)
UNIFORM_TOLERANCE = 6.0  # grey levels from a line's median
UNIFORM_SHARE = 0.97  # of a line's pixels within the tolerance, for a uniform line
BACKGROUND_TOLERANCE = 10.0  # grey levels from the background's, for a line that cuts bands
EDGE_STEP = 8.0  # grey levels across a line (averaged along it), for an edge pixel
ALONG = 5  # pixels averaged along a line before its step across is measured
EDGE_WINDOW = 7  # gaps bridged: a pixel is on an edge line when this window holds EDGE_HITS edge pixels
EDGE_HITS = 3
MIN_COVER = 0.6  # of a rectangle's side that must be edge
SEAM_COVER = 0.85  # of a block's width (or height) that must be edge along a line, for a seam that cuts it
SEAM_ENDS = 0.6  # and of each fifth of it at its two ends
SEAM_KNOWN = 0.65  # of a block's width (or height) along a line that is a seam in another block
STRIP_COVER = 0.75  # of the one side of a rectangle whose three others are the picture's border
STRAY_WEIGHT = 0.5  # of the share of edge past a rectangle's corners, taken from its cover when ranking
EDGE_CANDIDATES = 16  # strongest lines per direction paired into rectangles
SAME = 0.85  # intersection over union above which two proposals are the same
UNMERGE = 0.15  # of a band's side: how far in from it a line of the background still cuts it at full scale


def propose(luma: np.ndarray, limit: int = 6) -> List[Box]:
    """Up to `limit` rectangles of a picture's luma (H x W) likely to hold a picture of their own,
    in its pixels. The analysis runs on the luma reduced by a whole factor to at most
    ANALYSIS_SIDE pixels on its longer side."""
    if limit <= 0:
        return []
    luma = luma.astype(np.float32, copy=False)
    factor = max(1, -(-max(luma.shape) // ANALYSIS_SIDE))
    if factor == 1:
        return [box for box, _ in _propose(luma, limit, _background(luma))]
    height, width = luma.shape[0] // factor, luma.shape[1] // factor
    small = np.asarray(Image.fromarray(luma).reduce(factor, (0, 0, width * factor, height * factor)))
    colour = _background(small)
    found = []
    full_height, full_width = luma.shape
    for (top, bottom, left, right), kind in _propose(small, limit, colour):
        if kind == "inset":  # one margin on all four sides, whatever the reduction left over
            margin = top * factor
            box = _refined_inset(luma, (margin, full_height - margin, margin, full_width - margin), 2 * factor + 2)
        else:  # sides on the border stay on it
            box = (top * factor, full_height if bottom == height else bottom * factor,
                   left * factor, full_width if right == width else right * factor)
            if kind == "band" and colour is not None:
                box = _unmerged(luma, box, colour)
            box = _refined(luma, box, 2 * factor + 2)
        found.append(_tightened(luma, box))
    return found


def _unmerged(luma: np.ndarray, box: Box, colour: float) -> Box:
    """A band's box less what the reduction merged into it at its sides (a line of text a few
    pixels above a screenshot's photo): each side moved past the innermost line of the
    background grey within UNMERGE of the box's side from it, at full scale."""
    top, bottom, left, right = box

    def past(lines: np.ndarray) -> int:  # lines from the side inward: how many to drop
        flat = np.flatnonzero(_uniform(lines, colour))
        return int(flat[-1]) + 1 if len(flat) else 0

    rows, cols = int(UNMERGE * (bottom - top)), int(UNMERGE * (right - left))
    top, bottom = top + past(luma[top:top + rows, left:right]), bottom - past(luma[bottom - rows:bottom, left:right][::-1])
    left, right = left + past(luma[top:bottom, left:left + cols].T), right - past(luma[top:bottom, right - cols:right].T[::-1])
    return top, bottom, left, right


def _refined(luma: np.ndarray, box: Box, reach: int) -> Box:
    """A box found at a reduced scale, each side moved to the line, within `reach` pixels, where a
    step across it covers most of the side's length at full scale (the edge of a picture, not the
    bottoms of a line of text above it) and strays least past the side's ends (a pasted photo's
    edge stops at its corners, a longer edge of what it is pasted over beside it does not); of
    lines as good, the innermost (a photo's edge, not its thin border's or its gutter's)."""
    top, bottom, left, right = box

    def best(picture: np.ndarray, at: int, start: int, end: int, inward: int) -> int:  # picture: lines as rows
        if at <= 0 or at >= len(picture):  # the picture's own border
            return at
        low, high = max(1, at - reach), min(len(picture) - 1, at + reach)
        edge = np.abs(picture[low:high + 1] - picture[low - 1:high]) > EDGE_STEP
        beyond = max(1, (end - start) // 5)
        outside = np.concatenate((edge[:, max(0, start - beyond):start], edge[:, end:end + beyond]), axis=1)
        stray = outside.mean(axis=1) if outside.shape[1] else np.zeros(len(edge))
        score = np.round(edge[:, start:end].mean(axis=1) - STRAY_WEIGHT * stray, 1)
        return low + int(np.lexsort((inward * np.arange(len(edge)), score))[-1])

    return (best(luma, top, left, right, 1), best(luma, bottom, left, right, -1),
            best(luma.T, left, top, bottom, 1), best(luma.T, right, top, bottom, -1))


def _refined_inset(luma: np.ndarray, box: Box, reach: int) -> Box:
    """An inset found at a reduced scale (see _insets), moved to the margin, within `reach` pixels
    of each side's, at which all four sides are most covered by a step across them at full scale
    (a frame's own pattern has steps too, but not at one margin on all four sides at once); the
    stronger steps break ties."""
    top, bottom, left, right = box
    height, width = luma.shape
    shifts = np.arange(-reach, reach + 1)
    sides = []
    rows, cols = luma[:, left:right], luma[top:bottom].T
    for lines, at, inward in ((rows, top, 1), (rows, bottom, -1), (cols, left, 1), (cols, right, -1)):
        at = np.clip(at + inward * shifts, 1, len(lines) - 1)
        steps = np.abs(lines[at] - lines[at - 1])
        sides.append(((steps > EDGE_STEP).mean(axis=1), steps.mean(axis=1)))
    cover = np.min([np.round(c, 1) for c, _ in sides], axis=0)
    strength = np.sum([m for _, m in sides], axis=0)
    shift = int(shifts[np.lexsort((strength, cover))[-1]])
    return (min(max(top + shift, 1), height - 1), max(min(bottom - shift, height - 1), 1),
            min(max(left + shift, 1), width - 1), max(min(right - shift, width - 1), 1))


def _propose(luma: np.ndarray, limit: int, colour: Optional[float]) -> List[Tuple[Box, str]]:
    """Up to `limit` (box, "inset", "band" or "edge": how it was found) of the picture at the
    analysis's scale (`colour`: its background's grey, see _background): insets first (four sides
    of edge at one margin: a frame, the strongest evidence), then bands, then rectangles of edges;
    a box near one already taken is dropped."""
    height, width = luma.shape
    if min(height, width) < 2 * MIN_PIXELS:
        return []
    rows, cols = _edge_lines(luma), _edge_lines(luma.T)
    row_sums = np.pad(np.cumsum(rows, axis=1, dtype=np.int32), ((0, 0), (1, 0)))
    col_sums = np.pad(np.cumsum(cols, axis=1, dtype=np.int32), ((0, 0), (1, 0)))
    found, raw = [], []
    candidates = [("inset", box) for box in _insets(row_sums, col_sums)] + \
        [("band", box) for box in _bands(luma, colour, row_sums, col_sums)] + \
        [("edge", box) for box in _edges(rows, cols, row_sums, col_sums)]
    for kind, box in candidates:
        if _big_enough(box, height, width) and all(_iou(box, other) < SAME for other in raw):
            raw.append(box)
            found.append((_tightened(luma, box), kind))
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
    """Whether a box is large enough to hash, small enough not to be the picture, and not a strip."""
    top, bottom, left, right = box
    h, w = bottom - top, right - left
    area = h * w / (height * width)
    return (h >= max(MIN_PIXELS, MIN_SIDE * height) and w >= max(MIN_PIXELS, MIN_SIDE * width)
            and MIN_AREA <= area <= MAX_AREA and max(h, w) <= MAX_ASPECT * min(h, w))


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


def _pieces(content: np.ndarray, seams: np.ndarray, min_length: int) -> List[Tuple[int, int]]:
    """(start, end) of the runs of content lines at least min_length long, each cut again at the
    middle of a run of seams (seams[y]: a step between lines y and y + 1 across the whole run)
    where both sides are at least min_length (a straight edge inside a photo near its side does
    not cut the photo into slivers)."""
    cuts = [(s + e) // 2 + 1 for s, e in _runs(seams, 1)]
    found = []
    for start, end in _runs(content, min_length):
        for cut in cuts:
            if cut - start >= min_length and end - cut >= min_length:
                found.append((start, cut))
                start = cut
        found.append((start, end))
    return found


def _bands(luma: np.ndarray, colour: Optional[float], row_sums: np.ndarray, col_sums: np.ndarray,
           depth: int = 3) -> List[Box]:
    """Blocks of content between uniform lines of the picture's background grey (so that a flat
    stretch of a photo does not cut it) or at a seam (a straight edge across the whole block: the
    cut between a gutterless collage's cells), cut rows then columns, `depth` times over; the
    blocks not cut further first (a collage's cells before its rows), each the larger first.
    A grid's seam found in one block cuts the blocks beside it too where it is only partly edge
    (where two cells happen to meet in the same tones), in a second pass."""
    height, width = luma.shape
    min_h, min_w = max(MIN_PIXELS, int(MIN_SIDE * height)), max(MIN_PIXELS, int(MIN_SIDE * width))

    def content(lines: np.ndarray) -> np.ndarray:
        return np.ones(len(lines), bool) if colour is None else ~_uniform(lines, colour)

    def seams(sums: np.ndarray, first: int, last: int, start: int, end: int, known: np.ndarray,
              found: set) -> np.ndarray:
        """Whether each line between lines first..last (the step below it) is edge from start to
        end, its two ends included (the side of a pasted photo stops short of one), or mostly so
        (SEAM_KNOWN) on a line `known` as a seam elsewhere; `found` gains the lines that are seams here."""
        lines, fifth = sums[first:last - 1], max(1, (end - start) // 5)

        def cover(a: int, b: int) -> np.ndarray:
            return (lines[:, b] - lines[:, a]) / (b - a)
        whole = cover(start, end)
        strict = (whole >= SEAM_COVER) & (cover(start, start + fifth) >= SEAM_ENDS) & (cover(end - fifth, end) >= SEAM_ENDS)
        found.update((first + np.flatnonzero(strict)).tolist())
        return strict | (known[first:last - 1] & (whole >= SEAM_KNOWN))

    def split(known_rows: np.ndarray, known_cols: np.ndarray):
        leaves, cut, seen_rows, seen_cols = set(), set(), set(), set()
        todo = [((0, height, 0, width), depth)]
        while todo:
            box, left_depth = todo.pop()
            top, bottom, left, right = box
            block = luma[top:bottom, left:right]
            row_seams = seams(row_sums, top, bottom, left, right, known_rows, seen_rows)
            for a, b in _pieces(content(block), row_seams, min_h):
                col_seams = seams(col_sums, left, right, top + a, top + b, known_cols, seen_cols)
                for c, d in _pieces(content(block[a:b].T), col_seams, min_w):
                    child = (top + a, top + b, left + c, left + d)
                    if child == box:
                        continue
                    cut.add(box)
                    leaves.add(child)
                    if left_depth > 1:
                        todo.append((child, left_depth - 1))
        return leaves, cut, seen_rows, seen_cols

    def widened(lines: set, size: int) -> np.ndarray:
        known = np.zeros(size, bool)
        for line in lines:
            known[max(0, line - 1):line + 2] = True
        return known

    leaves, cut, seen_rows, seen_cols = split(np.zeros(height, bool), np.zeros(width, bool))
    if seen_rows or seen_cols:
        leaves, cut, _, _ = split(widened(seen_rows, height), widened(seen_cols, width))
    by_area = sorted(leaves, key=lambda box: -(box[1] - box[0]) * (box[3] - box[2]))
    return [box for box in by_area if box not in cut] + [box for box in by_area if box in cut]


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


def _side_stray(sums: np.ndarray, lines: np.ndarray, across: np.ndarray, size: int) -> np.ndarray:
    """stray[i, j, k]: the share of edge along line lines[i] beyond the side from across[j] + 1 to
    across[k] + 1, over a fifth of its length past each end (0 along the picture's own border):
    a pasted photo's edge stops at its corners, a longer edge of what it is pasted over does not."""
    rows = sums[np.clip(lines, 0, sums.shape[0] - 1)]
    bound = across + 1
    start, end = np.broadcast_arrays(bound[:, None], bound[None, :])
    beyond = np.maximum((end - start) // 5, 1)
    low, high = np.clip(start - beyond, 0, rows.shape[1] - 1), np.clip(end + beyond, 0, rows.shape[1] - 1)
    outside = (rows[:, start] - rows[:, low]) + (rows[:, high] - rows[:, end])
    stray = outside / np.maximum((start - low) + (high - end), 1)
    stray[(lines < 0) | (lines >= size - 1)] = 0.0
    return stray


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
    stray_h = _side_stray(row_sums, ys, xs, height)  # [top or bottom line, left, right]
    stray_v = _side_stray(col_sums, xs, ys, width)  # [left or right line, top, bottom]
    stray = np.maximum(np.maximum(stray_h[t, l, r], stray_h[b, l, r]), np.maximum(stray_v[l, t, b], stray_v[r, t, b]))
    # the best covered first (less what their sides stray past the corners), taken in turns from
    # those closed by edges on all four sides (a pasted photo) and those on the picture's border
    # (a gutterless collage's cell), so that neither kind crowds the other out of the few kept
    ranked = np.argsort(-(score[t, b, l, r] - STRAY_WEIGHT * stray), kind="stable")
    inner, outer = ranked[borders[t, b, l, r][ranked] == 0], ranked[borders[t, b, l, r][ranked] > 0]
    order = [i for pair in zip_longest(inner, outer) for i in pair if i is not None]
    return [(int(ys[t[i]] + 1), int(ys[b[i]] + 1), int(xs[l[i]] + 1), int(xs[r[i]] + 1)) for i in order[:64]]
