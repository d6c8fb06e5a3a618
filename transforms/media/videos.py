"""Video bytes in, frame PDQ hashes out, decoded with PyAV from memory (no temporary files).

Every keyframe is hashed (the decoder skips the others, which is cheap); with `sample_seconds`
> 0 every frame is decoded and one frame per `sample_seconds` is hashed as well, the vPDQ way,
for videos whose keyframes are sparse. Rotation metadata is applied (the display matrix's angle is counter-clockwise). Limits: `max_seconds` of
video (from the container, and again while decoding: a stream may lie about its length) and
`max_frames` hashed frames.
"""
import io
import math
from dataclasses import dataclass
from typing import List

import av
import numpy as np

from transforms.media.images import REDUCED_SIDE, FrameHash, picture_hashes
from transforms.reasons import MediaError
from transforms.media.sniffing import HEAD_BYTES, sniff


@dataclass(frozen=True)
class VideoSettings:
    sample_seconds: float = 0.5  # 0: keyframes only (see README: measured choice)
    max_seconds: float = 3 * 3600.0
    max_frames: int = 20_000


def _iso_truncated(data: bytes) -> bool:
    """Whether an ISO media file's (MP4, MOV) top-level boxes claim more bytes than there are."""
    kind = sniff(data[:HEAD_BYTES])
    if kind is None or kind.format not in ("mp4", "quicktime"):
        return False
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        if size == 1 and offset + 16 <= len(data):
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size == 0:  # the box runs to the end of the file
            return False
        if size < 8:
            return False
        offset += size
    return offset > len(data)


def _failure(data: bytes, error: Exception, stage: str) -> MediaError:
    if _iso_truncated(data):
        return MediaError("truncated", f"the file ends inside a box ({stage}: {error})")
    return MediaError("corrupt", f"{stage}: {type(error).__name__}: {error}")


def frame_hashes(frame: av.VideoFrame, time_s: float) -> List[FrameHash]:
    """PDQ hashes of one frame, turned upright. A large frame is area-averaged by an integer factor
    first (as still pictures are; PDQ's filter is folded onto the reduced grid)."""
    factor = min(frame.width, frame.height) // REDUCED_SIDE
    if factor >= 2:
        rgb = frame.to_ndarray(format="rgb24", width=frame.width // factor, height=frame.height // factor,
                               interpolation="AREA")
    else:
        rgb = frame.to_ndarray(format="rgb24")
    turns = round(frame.rotation / 90) % 4 if frame.rotation else 0
    full_height, full_width = (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)
    rgb = np.rot90(rgb, turns) if turns else rgb
    return picture_hashes(rgb, time_s, (full_height, full_width))


def hash_video(data: bytes, settings: VideoSettings) -> List[FrameHash]:
    """PDQ hashes (with trimmed variants) of the video's keyframes and sampled frames."""
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, IndexError) as e:
        raise _failure(data, e, "open") from None
    with container:
        if not container.streams.video:
            raise MediaError("no_video_stream", "the file holds no video stream (audio only?)")
        stream = container.streams.video[0]
        if container.duration and container.duration / av.time_base > settings.max_seconds:
            raise MediaError(
                "too_long", f"{container.duration / av.time_base:.0f} s > limit {settings.max_seconds:.0f} s"
            )
        stream.thread_type = "AUTO"
        sampling = settings.sample_seconds > 0
        if not sampling:
            stream.codec_context.skip_frame = "NONKEY"
        hashes: List[FrameHash] = []
        frames = 0
        next_sample = 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                time_s = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 30)
                if time_s > settings.max_seconds:
                    raise MediaError("too_long", f"frames beyond {settings.max_seconds:.0f} s")
                sampled = sampling and time_s >= next_sample
                if sampled:
                    next_sample = (math.floor(time_s / settings.sample_seconds) + 1) * settings.sample_seconds
                if not (frame.key_frame or sampled):
                    continue
                frames += 1
                if frames > settings.max_frames:
                    raise MediaError("too_long", f"more than {settings.max_frames} frames to hash")
                hashes.extend(frame_hashes(frame, round(time_s, 3)))
        except av.FFmpegError as e:
            raise _failure(data, e, f"decoding frame {frames}") from None
    if not hashes:
        raise _failure(data, ValueError("no decodable frame"), "decode")
    return hashes
