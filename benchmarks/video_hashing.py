"""Seconds of video hashed per second of CPU: keyframes only, sampled, and every frame decoded;
and what the regions of keyframes (media/regions.py, the scan's default) add to the default mode.

Generates 1080p H.264 clips (30 fps, a keyframe every 2 s, as phone uploads are), then hashes each
with the project's hasher in every mode. CPU time counts all threads (the decoder uses several).

    python -m benchmarks.video_hashing [--clips N] [--seconds S]
"""
import argparse
import sys
import time

from tests.media import clip_frames, encode_clip
from transforms.media.hashing import HashSettings
from transforms.media.videos import VideoSettings, hash_video

DEFAULT = "keyframes + 2 frames/s (0.5, default)"
MODES = {  # label: (sample seconds, regions of each keyframe)
    "keyframes only (--video_sample_seconds 0)": (0.0, 0),
    "keyframes + 1 frame/s (1)": (1.0, 0),
    DEFAULT: (0.5, 0),
    f"the same + keyframe regions ({HashSettings.regions})": (0.5, HashSettings.regions),
    "every frame (1/30)": (1 / 30, 0),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(f"generating {args.clips} clip(s) of {args.seconds:g} s, 1920x1080, 30 fps, H.264 ...", flush=True)
    clips = [
        encode_clip(clip_frames(seed, args.seconds, 30, (1920, 1080)), fps=30, gop=60, crf=23)
        for seed in range(args.clips)
    ]
    video_seconds = args.clips * args.seconds
    print(f"{'mode':42} {'frames hashed':>13} {'CPU s':>7} {'wall s':>7} {'video s / CPU s':>15} "
          f"{'vs every frame':>14} {'CPU, wall vs default':>20}")
    results = {}
    for label, (sample, regions) in MODES.items():
        start, wall = time.process_time(), time.perf_counter()
        hashed = sum(len({h.time_s for h in hash_video(c, VideoSettings(sample_seconds=sample), regions=regions).frames})
                     for c in clips)
        results[label] = (hashed, time.process_time() - start, time.perf_counter() - wall)
    baseline = video_seconds / results["every frame (1/30)"][1]
    _, default_cpu, default_wall = results[DEFAULT]
    for label, (hashed, cpu, wall) in results.items():
        rate = video_seconds / cpu
        print(f"{label:42} {hashed:>13} {cpu:>7.2f} {wall:>7.2f} {rate:>15.1f} {rate / baseline:>13.1f}x "
              f"{cpu / default_cpu:>10.2f}x {wall / default_wall:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
