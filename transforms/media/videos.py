"""Video bytes in, frame PDQ hashes out, decoded with PyAV from memory (no temporary files).

Every video stream is hashed (a picture may be shown in a second stream), under one set of limits.
The first video stream also gets a TMK+PDQF hash (transforms/media/tmk_frames.py) from the same
decode, unless `tmk` is off: every frame is then decoded, and the frames TMK keeps at 15 a
second are scaled to 64 x 64 RGB (by area; bicubic, as the reference's ffmpeg does, when asked),
turned upright.
Every keyframe is hashed (the decoder skips the others, which is cheap); with `sample_seconds`
> 0 every frame is decoded and one frame per `sample_seconds` is hashed as well, the vPDQ way,
for videos whose keyframes are sparse. Rotation metadata is applied (the display matrix's angle is counter-clockwise). Limits: `max_seconds` of
video (from the container, and again while decoding: a stream may lie about its length),
`max_frames` hashed frames, `max_pixels` a frame (from the stream's header, and again for every
decoded frame), and what costs.py bounds: packets are counted as they are demuxed (no more than
MAX_FRAME_RATE a second of video time), and the CPU budget is checked for each.
"""
import io
import math
from dataclasses import dataclass
from typing import List, NamedTuple, Optional

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from transforms.media.costs import MAX_FRAME_RATE, CpuBudget
from transforms.media.images import REDUCED_SIDE, FrameHash, check_pixels, picture_hashes
from transforms.reasons import MediaError
from transforms.media.sniffing import HEAD_BYTES, sniff
from transforms.media.tmk_frames import SIDE, TmkAccumulator, frame_feature
from transforms.signals.tmk import TmkFeatures


# Decoder threads per stream: bounded, so that objects in flight do not each start a thread per core.
DECODER_THREADS = 2
# A video whose frames stop before this share of its stated duration (less a second) is partial.
PARTIAL_SHARE = 0.9


@dataclass(frozen=True)
class VideoSettings:
    sample_seconds: float = 0.5  # 0: keyframes only (see README: measured choice)
    max_seconds: float = 3 * 3600.0
    max_frames: int = 20_000
    tmk: bool = True  # a TMK+PDQF hash of the first video stream (decodes every frame)
    pdq_frames: bool = True  # False: TMK+PDQF only (benchmarks, `takedown-scan tmk`)
    # How TMK's 64 x 64 frames are scaled: AREA costs half of BICUBIC, the reference's own filter
    # (which scores 1.000000 against its hashes); AREA scores >= 0.9999 (README, TMK+PDQF).
    tmk_interpolation: str = "AREA"


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


def _turns(frame: av.VideoFrame) -> int:
    """Quarter turns (counter-clockwise) that put the frame upright."""
    return round(frame.rotation / 90) % 4 if frame.rotation else 0


def _tmk_feature(reformatter: VideoReformatter, frame: av.VideoFrame, interpolation: str) -> np.ndarray:
    rgb = reformatter.reformat(frame, width=SIDE, height=SIDE, format="rgb24", interpolation=interpolation).to_ndarray()
    turns = _turns(frame)
    return frame_feature(np.rot90(rgb, turns) if turns else rgb)


def frame_hashes(frame: av.VideoFrame, time_s: float, regions: int = 0) -> List[FrameHash]:
    """PDQ hashes of one frame, turned upright (and of up to `regions` of its regions, see
    media/regions.py). A large frame is area-averaged by an integer factor first (as still
    pictures are; PDQ's filter is folded onto the reduced grid)."""
    factor = min(frame.width, frame.height) // REDUCED_SIDE
    if factor >= 2:
        rgb = frame.to_ndarray(format="rgb24", width=frame.width // factor, height=frame.height // factor,
                               interpolation="AREA")
    else:
        rgb = frame.to_ndarray(format="rgb24")
    turns = _turns(frame)
    full_height, full_width = (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)
    rgb = np.rot90(rgb, turns) if turns else rgb
    return picture_hashes(rgb, time_s, (full_height, full_width), regions)


@dataclass
class _Streams:
    """What all the video streams of one container share: the frames hashed so far and their
    hashes, the object's CPU budget, the pixel limit of a frame, the regions hashed in a keyframe."""

    frames: int
    hashes: List[FrameHash]
    cpu: CpuBudget
    max_pixels: int
    regions: int


def _packets(container, stream, rate: float, claimed_s: Optional[float], budget: CpuBudget):
    """The stream's packets as they are demuxed, each counted against MAX_FRAME_RATE a second of
    the video time they span, the CPU budget widened to that time and checked."""
    first = None
    span = 0.0
    for number, packet in enumerate(container.demux(stream), 1):
        stamp = packet.pts if packet.pts is not None else packet.dts
        time_s = float(stamp * packet.time_base) if stamp is not None and packet.time_base else number / rate
        first = time_s if first is None else first
        span = max(span, time_s - first)
        if number > MAX_FRAME_RATE * (span + 1.0):
            raise MediaError("over_budget", f"{number} packets in {span:.3f} s of video: more than "
                                            f"{MAX_FRAME_RATE} a second")
        budget.claim(seconds=max(claimed_s or 0.0, span))
        budget.check(f"packet {number}")
        yield packet


def _open(data: bytes) -> av.container.InputContainer:
    try:
        return av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, IndexError) as e:
        raise _failure(data, e, "open") from None


def _stream_hashes(container, data: bytes, index: int, settings: VideoSettings, shared: _Streams,
                   claimed_s: Optional[float], tmk: Optional[TmkAccumulator] = None) -> Optional[float]:
    """Hash video stream `index` of an open container into shared.hashes (and close the
    container), every frame into `tmk` too when given; returns the time of the stream's last
    decoded frame."""
    with container:
        stream = container.streams.video[index]
        check_pixels(stream.codec_context.width, stream.codec_context.height, shared.max_pixels,
                      f"video stream {index}")
        stream.thread_type = "AUTO"
        stream.thread_count = DECODER_THREADS
        sampling = settings.sample_seconds > 0
        if not sampling and tmk is None:
            stream.codec_context.skip_frame = "NONKEY"
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        start = container.start_time / av.time_base if container.start_time is not None else None
        reformatter = VideoReformatter()
        next_sample, last = 0.0, None
        frames = (frame for packet in _packets(container, stream, rate, claimed_s, shared.cpu)
                  for frame in packet.decode())
        try:
            for number, frame in enumerate(frames):
                check_pixels(frame.width, frame.height, shared.max_pixels, f"frame {number}")
                time_s = float(frame.time) if frame.time is not None else number / rate
                if time_s > settings.max_seconds:
                    raise MediaError("too_long", f"frames beyond {settings.max_seconds:.0f} s")
                last = time_s
                if tmk is not None:
                    start = time_s if start is None else start
                    duration = float(frame.duration * frame.time_base) if frame.duration else 1.0 / rate
                    tmk.add(lambda frame=frame: _tmk_feature(reformatter, frame, settings.tmk_interpolation),
                            time_s - start, duration)
                sampled = sampling and time_s >= next_sample
                if sampled:
                    next_sample = (math.floor(time_s / settings.sample_seconds) + 1) * settings.sample_seconds
                if not settings.pdq_frames or not (frame.key_frame or sampled):
                    continue
                shared.frames += 1
                if shared.frames > settings.max_frames:
                    raise MediaError("too_long", f"more than {settings.max_frames} frames to hash")
                shared.hashes.extend(frame_hashes(frame, round(time_s, 3), shared.regions if frame.key_frame else 0))
        except av.FFmpegError as e:
            if not shared.hashes and not (tmk is not None and tmk.frame_count):
                raise _failure(data, e, f"decoding frame {shared.frames}") from None
            return last  # hashed up to here: a partial decode
        return last


class VideoHashes(NamedTuple):
    frames: List[FrameHash]
    partial: bool  # only part of the video could be decoded
    tmk: Optional[TmkFeatures] = None  # the first video stream's TMK+PDQF


def hash_video(data: bytes, settings: VideoSettings, cpu: Optional[CpuBudget] = None,
               max_pixels: int = 100_000_000, regions: int = 0) -> VideoHashes:
    """PDQ hashes (with trimmed variants) of the keyframes and sampled frames of every video
    stream (and of up to `regions` regions of each keyframe: a picture shown inside the
    video's picture; sampled frames between keyframes are hashed whole, for their cost), within one budget of frames, seconds and CPU time for all of them; and whether the
    video was only partly decoded (the file ends early, or decoding stopped well before its
    duration). A frame of more than `max_pixels` fails the video, before it is decoded when the
    stream's header tells its size."""
    container = _open(data)
    streams = len(container.streams.video)
    duration = container.duration / av.time_base if container.duration else None
    try:
        if not streams:
            raise MediaError("no_video_stream", "the file holds no video stream (audio only?)")
        if duration and duration > settings.max_seconds:
            raise MediaError("too_long", f"{duration:.0f} s > limit {settings.max_seconds:.0f} s")
    except MediaError:
        container.close()
        raise
    shared = _Streams(0, [], cpu or CpuBudget(), max_pixels, regions)
    tmk = TmkAccumulator() if settings.tmk else None
    # The first stream is decoded from the container opened here; each further one from its own
    # (a demuxer's packets are read once).
    last_times = [_stream_hashes(container if index == 0 else _open(data), data, index, settings, shared, duration,
                                 tmk if index == 0 else None)
                  for index in range(streams if settings.pdq_frames else 1)]
    if not shared.hashes and not (tmk is not None and tmk.frame_count):
        raise _failure(data, ValueError("no decodable frame"), "decode")
    decoded = max((t for t in last_times if t is not None), default=0.0)
    short = duration is not None and decoded < duration * PARTIAL_SHARE - 1.0
    features = tmk.features() if tmk is not None and tmk.frame_count else None
    return VideoHashes(shared.hashes, short or _iso_truncated(data), features)
