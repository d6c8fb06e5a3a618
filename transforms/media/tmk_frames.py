"""Decoded frames in, TMK+PDQF features out: resampling to 15 frames a second, the PDQ float
feature of each frame, and the running sums (transforms/signals/tmk.py has the format and scores).

As the reference does (ffmpeg scaling every frame to 64 x 64 RGB, which the caller does here,
then the PDQ float hasher): a frame's luma is 0.299 R + 0.587 G + 0.114 B; PDQ's box filters
are the identity at 64 x 64, so its feature is the 16 x 16 DCT of the luma, row by row.
Resampling follows ffmpeg's constant-frame-rate output (what the reference's `-r 15` does): each
input frame is written once, dropped when the output is already more than 1.1 frames ahead of
it, or repeated when the output lags more than 1.1 frames behind its end; so a 30 fps video
keeps frames 0 to 3 and then every odd one, and a 10 fps one repeats every second frame (checked
against the reference with ffmpeg 9.0.2 at 8, 10, 12, 24, 25, 29.97, 30 and 60 fps, and across a
50-minute gap in the timestamps: the same frame counts, scores of 0.99999 and more).
Sums are kept in float64 and added a block of frames at a time (a matrix product per block).
"""
from typing import Callable, List, Optional, Union

import numpy as np

from transforms.signals.pdq import DCT
from transforms.signals.tmk import COEFFICIENTS, FEATURE_DIMENSION, FRAMES_PER_SECOND, PERIODS, TmkFeatures, unit

SIDE = 64  # frames are scaled to SIDE x SIDE RGB before hashing
_LUMA = np.array([0.299, 0.587, 0.114])
_BLOCK = 256  # frames summed per matrix product
_SLACK = 1.1  # output frames of drift tolerated before a frame is dropped or repeated


def frame_feature(rgb: np.ndarray) -> np.ndarray:
    """The 256 PDQ float coefficients of a 64 x 64 x 3 RGB frame."""
    luma = rgb.astype(np.float64) @ _LUMA
    return (DCT @ luma @ DCT.T).ravel()


class _Lazy:
    """A feature, or the function that computes it when first asked."""

    def __init__(self, source):
        self._source, self._value = source, None

    def value(self) -> np.ndarray:
        if self._value is None:
            self._value = self._source() if callable(self._source) else self._source
            self._source = None
        return self._value


class TmkAccumulator:
    """Takes decoded frames in order with their times; `features()` gives the video's TMK+PDQF."""

    def __init__(self):
        self._sum = np.zeros(FEATURE_DIMENSION)
        shape = (len(PERIODS), len(COEFFICIENTS), FEATURE_DIMENSION)
        self._cos, self._sin = np.zeros(shape), np.zeros(shape)
        self._count = 0  # output frames summed so far
        self._pending: List[np.ndarray] = []  # features of output frames not yet summed
        self._next = 0  # the next output frame's number
        self._previous: Optional[_Lazy] = None  # the last input frame's feature
        self._repeats = [0, 0, 0]  # the last three frames' repeats of the frame before them

    @property
    def frame_count(self) -> int:
        return self._next

    def _emit(self, feature: "_Lazy", times: int) -> None:
        """Output `times` frames showing `feature`, a block at a time: a gap in a video's
        timestamps repeats its frame for the whole gap, and memory must not grow with it."""
        while times > 0:
            count = min(times, _BLOCK - len(self._pending))
            self._pending.extend([feature.value()] * count)
            self._next += count
            times -= count
            if len(self._pending) >= _BLOCK:
                self._flush()

    def add(self, feature: Union[np.ndarray, Callable[[], np.ndarray]], time_s: float, duration_s: float) -> None:
        """One decoded frame's feature (or a function computing it, called only if the frame is
        kept), its time from the video's start and its duration (or 1 / the stream's rate)."""
        feature = _Lazy(feature)
        position = time_s * FRAMES_PER_SECOND  # in output frames
        drift = position - self._next
        reach = drift + duration_s * FRAMES_PER_SECOND
        if drift < 0 < reach:
            drift = 0.0
        times, repeats = 1, 0
        if reach < -_SLACK:
            times = 0
        elif reach > _SLACK:
            times = round(reach)
            if drift > _SLACK:
                repeats = round(drift - 0.6)
        self._repeats = self._repeats[1:] + [repeats]
        self._emit(self._previous if self._previous is not None else feature, repeats)
        self._emit(feature, times - repeats)
        self._previous = feature

    def _flush(self) -> None:
        if not self._pending:
            return
        block = np.stack(self._pending)
        t = np.arange(self._count, self._count + len(block), dtype=np.float64)
        self._sum += block.sum(axis=0)
        normalized = unit(block)
        j = np.arange(len(COEFFICIENTS), dtype=np.float64)
        for p, period in enumerate(PERIODS):
            angles = 2 * np.pi * np.outer(j, t) / period  # (coefficients, frames)
            self._cos[p] += np.cos(angles) @ normalized
            self._sin[p] += np.sin(angles) @ normalized
        self._count += len(block)
        self._pending = []

    def features(self) -> TmkFeatures:
        """The features of the frames added so far (the last one repeated as the run before it was)."""
        if self._previous is not None:
            self._emit(self._previous, sorted(self._repeats)[1])
        self._flush()
        scale = np.sqrt(COEFFICIENTS.astype(np.float64))[None, :, None]
        return TmkFeatures(self._count, (self._sum / max(self._count, 1)).astype(np.float32),
                           (unit(self._cos) * scale).astype(np.float32), (unit(self._sin) * scale).astype(np.float32))
