"""TMK+PDQF speed: hashing against the reference C++ in the same run, its cost inside the scan's
video hashing, and queries per second against many registry videos.

    python -m benchmarks.tmk [--reference BIN] [--ffmpeg BIN] [--index-sizes 10000,100000] [--skip-index]

1. Hashing, on the sample videos (../shared/conformance/video) and on generated 1080p clips
   (noisy pans, H.264): video-seconds hashed per CPU-second (the process's and its children's:
   decoder threads, the reference's ffmpeg), ours (`hash_video` with TMK only, as `takedown-scan
   tmk hash` runs it) beside the reference `tmk-hash-video` given by --reference (built from
   facebook/ThreatExchange tmk/cpp, run with --ffmpeg, default imageio-ffmpeg's binary when
   installed), and each hash's level-2 score against the other's.
2. In the scan: the default video hashing (keyframes and a frame every 0.5 s) with and without
   TMK on the same videos, alternating; the CPU ratio is what TMK adds.
3. Matching: a TmkIndex over N synthetic registry videos (random pure averages and features,
   held in a file mapped into memory, as a registry that large would be), queried by videos of
   which one in ten is a noisy copy of a registry video: queries per second and CPU per query,
   beside brute-force scoring of level 2 for every registry video, on a sample.
"""
import argparse
import glob
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from tests.conftest import CONFORMANCE
from tests.media import encode_clip, photo
from pipelines.tmk import TMK_ONLY
from transforms.media.hashing import one_blas_thread
from transforms.media.videos import VideoSettings, hash_video
from transforms.signals import tmk

SCAN_TMK_ONLY = VideoSettings(pdq_frames=False)  # the scan's scaling (by area)


def cpu_now() -> float:
    """CPU seconds of this process (all threads) and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(function, *args):
    cpu, wall = cpu_now(), time.perf_counter()
    result = function(*args)
    return result, cpu_now() - cpu, time.perf_counter() - wall


def duration_s(data: bytes) -> float:
    import av

    with av.open(io.BytesIO(data)) as container:
        return container.duration / av.time_base


def reference_hash(binary: str, ffmpeg: str, path: str, folder: str) -> tmk.TmkFeatures:
    subprocess.run([binary, "-f", ffmpeg, "-d", folder, "-i", path], check=True, capture_output=True)
    name = os.path.splitext(os.path.basename(path))[0] + ".tmk"
    with open(os.path.join(folder, name), "rb") as f:
        return tmk.from_bytes(f.read())


def generated_1080p(folder: str, count: int, seconds: float):
    """Paths of `count` generated 1080p 30 fps clips: a pan across a noisy photo-like picture."""
    paths = []
    for seed in range(count):
        wide = photo(900 + seed, 1920 * 2, 1080)
        frames = int(seconds * 30)
        clip = [wide.crop((i * 1920 // frames, 0, i * 1920 // frames + 1920, 1080)) for i in range(frames)]
        path = os.path.join(folder, f"generated-1080p-{seed}.mp4")
        with open(path, "wb") as f:
            f.write(encode_clip(clip, fps=30, crf=23))
        paths.append(path)
    return paths


def hashing(paths, reference, ffmpeg, folder) -> None:
    print(f"{'video':34s} {'secs':>6s} | {'video-seconds per CPU-second:':^38s} | {'level 2 vs reference':^20s}")
    print(f"{'':34s} {'':6s} | {'exact':>8s} {'by area':>8s} {'reference':>10s} {'ratio':>8s} | {'exact':>9s} {'by area':>9s}")
    totals = {"seconds": 0.0, "exact": 0.0, "area": 0.0, "ref": 0.0}
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        seconds = duration_s(data)
        exact, exact_cpu, _ = measured(hash_video, data, TMK_ONLY)
        area, area_cpu, _ = measured(hash_video, data, SCAN_TMK_ONLY)
        totals["seconds"] += seconds
        totals["exact"] += exact_cpu
        totals["area"] += area_cpu
        line = f"{os.path.basename(path)[:34]:34s} {seconds:6.1f} | {seconds / exact_cpu:8.1f} {seconds / area_cpu:8.1f}"
        if reference:
            theirs, ref_cpu, _ = measured(reference_hash, reference, ffmpeg, path, folder)
            totals["ref"] += ref_cpu
            line += (f" {seconds / ref_cpu:10.1f} {ref_cpu / exact_cpu:8.2f} | "
                     f"{tmk.level2(exact.tmk, theirs):9.6f} {tmk.level2(area.tmk, theirs):9.6f}")
        print(line)
    line = (f"{'all':34s} {totals['seconds']:6.1f} | {totals['seconds'] / totals['exact']:8.1f} "
            f"{totals['seconds'] / totals['area']:8.1f}")
    if reference:
        line += f" {totals['seconds'] / totals['ref']:10.1f} {totals['ref'] / totals['exact']:8.2f}"
    print(line)
    print("(exact: bicubic scaling, as `takedown-scan tmk hash`; by area: the scan's; ratio: exact's "
          "video-seconds per CPU-second over the reference's)\n")


def in_the_scan(paths, rounds: int = 3) -> None:
    with_tmk, without = VideoSettings(), VideoSettings(tmk=False)
    cpu = {"with": [], "without": []}
    for _ in range(rounds):
        for key, settings in (("without", without), ("with", with_tmk)):
            total = 0.0
            for path in paths:
                with open(path, "rb") as f:
                    total += measured(hash_video, f.read(), settings)[1]
            cpu[key].append(total)
    best_with, best_without = min(cpu["with"]), min(cpu["without"])
    print(f"scan video hashing, {len(paths)} videos, best of {rounds}: without TMK {best_without:.2f} CPU s, "
          f"with TMK {best_with:.2f} CPU s: TMK adds {100 * (best_with / best_without - 1):.0f}% "
          f"(medians {statistics.median(cpu['without']):.2f} / {statistics.median(cpu['with']):.2f})\n")


def synthetic_registry(path: str, count: int, rng) -> np.memmap:
    """`count` packed TMK values in a file: random unit pure averages and features (from a pool)."""
    template = np.frombuffer(tmk.TmkFeatures(
        100, np.ones(256, np.float32), np.zeros((4, 32, 256), np.float32), np.zeros((4, 32, 256), np.float32),
    ).to_bytes(), np.uint8)
    packed = np.memmap(path, np.uint8, "w+", shape=(count, tmk.VALUE_BYTES))
    pool = [random_features(rng) for _ in range(64)]
    for start in range(0, count, 1000):
        rows = min(1000, count - start)
        block = np.tile(template, (rows, 1))
        for i in range(rows):
            features = pool[(start + i) % len(pool)]
            block[i] = np.frombuffer(tmk.TmkFeatures(100, rng.normal(size=256).astype(np.float32),
                                                     features.cos, features.sin).to_bytes(), np.uint8)
        packed[start:start + rows] = block
    packed.flush()
    return packed


def random_features(rng) -> tmk.TmkFeatures:
    shape = (4, 32, 256)
    scale = np.sqrt(tmk.COEFFICIENTS)[None, :, None]
    cos = tmk.unit(rng.normal(size=shape)) * scale
    sin = tmk.unit(rng.normal(size=shape)) * scale
    return tmk.TmkFeatures(100, rng.normal(size=256).astype(np.float32), cos.astype(np.float32), sin.astype(np.float32))


def matching(sizes, queries: int = 200) -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        for count in sizes:
            packed = synthetic_registry(os.path.join(folder, f"registry-{count}.bin"), count, rng)
            index, build_cpu, _ = measured(tmk.TmkIndex, packed, np.arange(count))
            batch = []
            for q in range(queries):
                if q % 10 == 0:  # a copy of a registry video: its features with a little noise
                    original = tmk.from_bytes(packed[rng.integers(count)].tobytes())
                    noisy = tmk.TmkFeatures(100, original.pure_average + rng.normal(0, 0.1, 256).astype(np.float32),
                                            original.cos, original.sin)
                    batch.append(noisy.to_bytes())
                else:
                    batch.append(random_features(rng).to_bytes())
            values = np.frombuffer(b"".join(batch), np.uint8).reshape(queries, -1)
            found = 0
            cpu, wall = cpu_now(), time.perf_counter()
            for q in range(queries):  # one video at a time, as the matcher asks
                found += len(index.query(values[q:q + 1], (tmk.LEVEL1_THRESHOLD, tmk.LEVEL2_THRESHOLD))[0])
            cpu, wall = cpu_now() - cpu, time.perf_counter() - wall
            sample = min(count, 300)  # brute force: level 2 against every registry video, on a sample
            one = tmk.from_bytes(values[0].tobytes())
            brute_cpu = cpu_now()
            rows = rng.choice(count, sample, replace=False)
            parsed = [tmk.from_bytes(packed[r].tobytes()) for r in rows]
            tmk.level2_many(one, np.stack([p.cos for p in parsed]).astype(np.float64),
                            np.stack([p.sin for p in parsed]).astype(np.float64))
            brute_per_query = (cpu_now() - brute_cpu) * count / sample
            print(f"{count:>7d} registry videos: index built in {build_cpu:.1f} CPU s "
                  f"({index._pure.nbytes / count:.0f} B/video in memory beside the mapped values); "
                  f"{queries} queries, {found} matches found: {queries / wall:.0f} queries/s, "
                  f"{1000 * cpu / queries:.2f} CPU ms/query; brute-force level 2 for every video: "
                  f"{brute_per_query:.1f} CPU s/query ({brute_per_query * queries / cpu:.0f}x)")
            del index, packed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", help="the reference tmk-hash-video binary")
    parser.add_argument("--ffmpeg", help="the ffmpeg binary for the reference (default: imageio-ffmpeg's)")
    parser.add_argument("--clips", type=int, default=2, help="generated 1080p clips")
    parser.add_argument("--clip-seconds", type=float, default=10.0)
    parser.add_argument("--index-sizes", default="10000,100000")
    parser.add_argument("--skip-index", action="store_true")
    args = parser.parse_args(argv)
    one_blas_thread()  # as the scan's hashing runs
    ffmpeg = args.ffmpeg
    if args.reference and not ffmpeg:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    samples = sorted(glob.glob(os.path.join(CONFORMANCE, "video", "*.mp4")))
    if not samples:
        print("no sample videos under", os.path.join(CONFORMANCE, "video"), file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        clips = generated_1080p(folder, args.clips, args.clip_seconds)
        print("1. hashing the sample videos and generated 1080p clips")
        hashing(samples + clips, args.reference, ffmpeg, folder)
        print("2. in the scan")
        in_the_scan(samples + clips)
    if not args.skip_index:
        print("3. matching")
        matching([int(n) for n in args.index_sizes.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
