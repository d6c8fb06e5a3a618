"""Bytes in, hashes out: sniff the type, decode (PDQ of pictures and frames, a video's TMK+PDQF),
then every signal type computed from the bytes; and the DoFn around it.

`hash_media` is the pure core. `HashObjects` reads each object once, calls it, and tags failures
as `errors`, so that every object it receives leaves as exactly one MediaHashes or ScanError. It
keeps `concurrency` objects in flight on a thread pool, so that a worker waiting on the network
for some objects hashes others meanwhile (the decoders release the GIL for most of their work).
"""
import collections
import dataclasses
import functools
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Optional

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue
import PIL
import av
from threadpoolctl import threadpool_limits

from transforms.media.inflight import process_inflight
from transforms.media.costs import CostSettings, CpuBudget
from transforms.media.images import FrameHash, hash_image
from transforms.media.sniffing import HEAD_BYTES, sniff
from transforms.media.videos import VideoSettings, hash_video
from transforms.reasons import MediaError, ScanError
from transforms.records import MediaHashes
from transforms.signals import SIGNALS, hasher_version
from transforms.signals.base import SignalHash
from transforms.signals.pdq import PDQ
from transforms.signals.tmk import TMK_PDQF, TmkFeatures
from transforms.storage.objects import MediaObject
from transforms.storage.reading import read_object
from transforms.storage.stores import Stores, StoreSettings

@dataclass(frozen=True)
class HashSettings:
    max_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 100_000_000
    max_total_pixels: int = 1_000_000_000  # all frames or pages of one animated or multi-page image
    video: VideoSettings = VideoSettings()
    costs: CostSettings = CostSettings()  # the CPU time one object's hashing may take
    stores: StoreSettings = StoreSettings()
    concurrency: int = 16  # objects in flight per DoFn instance (the scan sets it, see read_concurrency)
    max_inflight_bytes: int = 1 << 30  # bytes of objects being read and hashed at once, per worker process
    follow_symlinks: bool = False  # local reads: open through symbolic links (listing keeps them inside --media)
    regions: int = 8  # regions of a picture or a video's keyframe hashed as pictures of their own (media/regions.py); 0: none

    def fingerprint(self) -> dict:
        """What decides the hashes an object gets (a run's hashes are adopted by a later run only
        when this is the same): the hasher versions and the settings that change the output."""
        return {"hashers": {media: hasher_version(media) for media in ("image", "video")},
                "max_bytes": self.max_bytes, "max_pixels": self.max_pixels, "max_total_pixels": self.max_total_pixels,
                "video": dataclasses.asdict(self.video), "regions": self.regions}


def media_hashes(obj: MediaObject, media_type: str, frames: Iterable[FrameHash], data: Optional[bytes] = None,
                 partial: bool = False, tmk: Optional[TmkFeatures] = None) -> MediaHashes:
    """An object's hashes: what the decoders computed (its frames' PDQ, every variant, and a
    video's TMK+PDQF), then every signal type computed from its bytes (none without them)."""
    hashes = {PDQ.name: tuple(h for frame in frames for h in frame.signal_hashes())}
    if tmk is not None:
        hashes[TMK_PDQF.name] = (SignalHash(tmk.to_bytes()),)
    for signal in SIGNALS.values() if data is not None else ():
        value = signal.of_bytes(data)
        if value is not None:
            hashes[signal.name] = (SignalHash(value),)
    return MediaHashes(obj.uri, obj.version, media_type, hashes, partial)


_DECODER_PACKAGES = tuple(os.path.dirname(package.__file__) + os.sep for package in (PIL, av))


def _raised_by_decoder(error: Exception) -> bool:
    """Whether the exception came out of Pillow's or PyAV's own code (a malformed file meeting a
    parser that does not expect it), rather than out of this project's."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_code.co_filename.startswith(_DECODER_PACKAGES)


@functools.cache
def one_blas_thread() -> None:
    """The hashers' matrix products are small (64 x 64, 32 x 256): OpenBLAS's threads spin on them
    and cost more CPU for the same work (measured: 30 CPU s against 20 on the sample videos, twice
    as much on pictures), while objects are already hashed `concurrency` at a time. Set once per
    process."""
    threadpool_limits(1, user_api="blas")


def hash_media(obj: MediaObject, data: bytes, settings: HashSettings) -> MediaHashes:
    """Hash an object's bytes: hashes, or a MediaError (decode stage) for what cannot be hashed,
    never another exception (benchmarks/fuzz.py): a decoder's parser that breaks on a malformed
    file gives `corrupt`, anything else `hash_failed`."""
    one_blas_thread()
    kind = sniff(data[:HEAD_BYTES])
    if kind is None:
        raise MediaError("unsupported_type", "no image or video signature in its first bytes")
    if not kind.decodable:
        raise MediaError("unsupported_type", f"{kind.format} {kind.media_type}s are not decoded")
    partial, tmk = False, None
    budget = CpuBudget(settings.costs)
    try:
        if kind.media_type == "image":
            frames = hash_image(data, settings.max_pixels, settings.video.max_frames, settings.max_total_pixels, budget,
                                settings.regions)
        else:
            frames, partial, tmk = hash_video(data, settings.video, budget, settings.max_pixels, settings.regions)
    except MediaError:
        raise
    except MemoryError:
        raise MediaError("too_many_pixels", "ran out of memory while decoding") from None
    except Exception as e:
        reason = "corrupt" if _raised_by_decoder(e) else "hash_failed"
        raise MediaError(reason, f"{type(e).__name__} while decoding: {e}") from None
    return media_hashes(obj, kind.media_type, frames, data, partial, tmk)


def hash_object(obj: MediaObject, settings: HashSettings, stores: Optional[Stores] = None) -> MediaHashes:
    """Read and hash one object; every failure is a MediaError with a reason code."""
    try:
        data = read_object(obj, settings.max_bytes, stores, settings.follow_symlinks)
    except MediaError:
        raise
    except Exception as e:  # a client's own bug must cost one object, not the run
        raise MediaError("unreadable", f"{type(e).__name__}: {e}") from None
    return hash_media(obj, data, settings)


PROGRESS = logging.getLogger("takedown_scan.progress")


class Progress:
    """Logs how far a worker got, at most every `interval_s` seconds (INFO, takedown_scan.progress)."""

    def __init__(self, interval_s: float = 15.0):
        self.interval_s = interval_s
        self.started = self.reported = time.monotonic()
        self.hashed = self.failed = 0

    def count(self, failed: bool) -> None:
        if failed:
            self.failed += 1
        else:
            self.hashed += 1
        now = time.monotonic()
        if now - self.reported >= self.interval_s:
            self.reported = now
            done = self.hashed + self.failed
            PROGRESS.info("%d objects hashed, %d failed (%.1f objects/s on this worker)",
                          self.hashed, self.failed, done / max(now - self.started, 1e-9))


class HashObjects(beam.DoFn):
    """MediaObject -> MediaHashes, or a ScanError on the `errors` output."""

    progress_interval_s = 15.0

    def __init__(self, settings: HashSettings):
        self._settings = settings
        self._hashed = beam.metrics.Metrics.counter("scan", "hashed")
        self._failed = beam.metrics.Metrics.counter("scan", "failed")

    def setup(self):
        self._stores = Stores(self._settings.stores)
        self._pool = ThreadPoolExecutor(self._settings.concurrency, thread_name_prefix="hash")
        self._inflight = process_inflight(self._settings.max_inflight_bytes)
        self._progress = Progress(self.progress_interval_s)

    def teardown(self):
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start_bundle(self):
        self._in_flight = collections.deque()

    def _outcome(self, obj: MediaObject):
        size = min(obj.size, self._settings.max_bytes) if obj.size is not None else self._settings.max_bytes
        try:
            with self._inflight.hold(size):
                return hash_object(obj, self._settings, self._stores)
        except MediaError as e:
            logging.info("cannot hash %s: %s", obj.uri, e)
            return ScanError.of(obj.uri, obj.version, e)

    def _output(self, outcome, windowed: bool):
        self._progress.count(failed=isinstance(outcome, ScanError))
        if isinstance(outcome, ScanError):
            self._failed.inc()
            value = WindowedValue(outcome, MIN_TIMESTAMP, [GlobalWindow()]) if windowed else outcome
            return beam.pvalue.TaggedOutput("errors", value)
        self._hashed.inc()
        return WindowedValue(outcome, MIN_TIMESTAMP, [GlobalWindow()]) if windowed else outcome

    def process(self, obj: MediaObject):
        self._in_flight.append(self._pool.submit(self._outcome, obj))
        while self._in_flight and (len(self._in_flight) >= self._settings.concurrency or self._in_flight[0].done()):
            yield self._output(self._in_flight.popleft().result(), windowed=False)

    def finish_bundle(self):
        while self._in_flight:
            yield self._output(self._in_flight.popleft().result(), windowed=True)


class HashMedia(beam.PTransform):
    """MediaObjects -> MediaHashes (main output `hashes`) and ScanErrors (`errors`)."""

    def __init__(self, settings: HashSettings):
        super().__init__()
        self._settings = settings

    def expand(self, objects):
        return objects | "HashObjects" >> beam.ParDo(HashObjects(self._settings)).with_outputs("errors", main="hashes")
