"""What hashing one object may cost in CPU time, whatever its container or codec.

Two kinds of limit. Counts taken from the bytes alone, before anything is decoded, bound the
steps a decoder cannot be interrupted in (a JPEG's scans: each is a pass over every block of the
picture; a GIF's frames, which Pillow would otherwise walk all of to count them). And a CPU-time
budget, counted on the thread that hashes the object, checked between those steps (each read of
Pillow's decoder, each video packet, each frame): it starts at `base_s` and widens with what the
object says it is (its megapixels in all frames, its seconds of video), so that an honest photo
or video within the other limits never comes near it, while a small file that claims little
cannot cost much. An object over its budget fails as `over_budget`.
"""
import io
import re
import time
from dataclasses import dataclass
from typing import Optional

from transforms.reasons import MediaError

# A JPEG of more scans than this is refused before decoding (encoders write 1 for baseline and
# about 10 for progressive; a camera's MPO with its thumbnails a few dozen).
MAX_JPEG_SCANS = 100
# Video packets a second of video time (and a second more): faster is a flood, not a video.
MAX_FRAME_RATE = 1000


@dataclass(frozen=True)
class CostSettings:
    base_s: float = 5.0  # CPU seconds any object may take
    per_megapixel_s: float = 0.05  # more for each megapixel of all its frames
    per_video_second_s: float = 0.5  # more for each second of video it says it holds, or has shown


class CpuBudget:
    """The CPU time one object's hashing may take on the calling thread (see the module's doc)."""

    def __init__(self, settings: Optional[CostSettings] = None):
        self._settings = settings or CostSettings()
        self._start = time.thread_time()
        self.allowed_s = self._settings.base_s

    def claim(self, megapixels: float = 0.0, seconds: float = 0.0) -> None:
        """Widen the budget to what an object of this many megapixels or seconds of video may take."""
        s = self._settings
        self.allowed_s = max(self.allowed_s, s.base_s + s.per_megapixel_s * megapixels + s.per_video_second_s * seconds)

    def check(self, what: str) -> None:
        spent = time.thread_time() - self._start
        if spent > self.allowed_s:
            raise MediaError("over_budget", f"{what}: {spent:.1f} CPU s spent, over its budget of {self.allowed_s:.1f} s")


class BudgetedBytes(io.BytesIO):
    """Bytes for a decoder that pulls them a block at a time: each pull checks the budget."""

    def __init__(self, data: bytes, budget: Optional[CpuBudget]):
        super().__init__(data)
        self._budget = budget

    def read(self, size: Optional[int] = -1) -> bytes:
        if self._budget is not None:
            self._budget.check("decoding")
        return super().read(size)


def check_jpeg_scans(data: bytes) -> None:
    """Refuse a progressive JPEG of more than MAX_JPEG_SCANS scans (only progressive scans can
    skip whole runs of blocks in a few bytes, so that a scan costs far more than its size; the
    count costs about 1 ms a MB). A start-of-scan marker (FF DA) cannot occur inside
    entropy-coded data (an FF there is followed by 00 or a restart number), so counting the pair
    counts the scans, and a few stray ones in metadata do not matter."""
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise MediaError("over_budget", f"a JPEG of {scans} scans > limit {MAX_JPEG_SCANS} (each decodes every block)")


def gif_frame_count(data: bytes, limit: int) -> int:
    """The frames (image descriptors) of a GIF, counted no further than `limit`, by walking its
    blocks as Pillow does (bytes it does not know are skipped one at a time)."""
    if len(data) < 13:
        return 0
    offset = 13
    if data[10] & 0x80:  # the global colour table
        offset += 3 << ((data[10] & 7) + 1)
    frames = 0
    while offset < len(data) and frames < limit:
        tag = data[offset]
        if tag == 0x3B:  # the trailer
            break
        if tag == 0x21:  # an extension: its label, then sub-blocks
            offset = _after_sub_blocks(data, offset + 2)
        elif tag == 0x2C:  # an image: its descriptor, colour table, LZW code size, sub-blocks
            if offset + 10 > len(data):
                break
            flags = data[offset + 9]
            offset += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            offset = _after_sub_blocks(data, offset + 1)
            frames += 1
        else:  # not a block: skip to the next byte that could start one
            found = _BLOCK_START.search(data, offset + 1)
            offset = found.start() if found else len(data)
    return frames


_BLOCK_START = re.compile(rb"[\x21\x2c\x3b]")


def _after_sub_blocks(data: bytes, offset: int) -> int:
    while offset < len(data) and data[offset]:
        offset += data[offset] + 1
    return offset + 1
