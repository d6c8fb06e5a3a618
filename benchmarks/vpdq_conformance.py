"""Video conformance against the vPDQ reference (../shared/conformance/video).

Builds a registry from the reference hashes of two originals (one frame per second, quality >= 50)
and prints, for every video of the folder, the two shares of each entry with and without the
border-trimmed variants, and the bit difference of our frame hashes from the reference's.

    python -m benchmarks.vpdq_conformance [--sample_seconds S] [CONFORMANCE_FOLDER]
"""
import argparse
import collections
import csv
import os
import statistics
import sys

from transforms.media.hashing import media_hashes
from transforms.storage.objects import MediaObject
from transforms.matching.matcher import MatchSettings, RegistryIndex, match_media
from transforms.registry.loaded import Registry, registry_of_rows
from transforms.signals.pdq import PDQ
from transforms.media.videos import VideoSettings, hash_video

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINALS = {"chair": "chair-orig-22-fhd-no-bar", "pattern": "pattern-hd-no-bar"}


def reference_frames(folder: str, name: str):
    """(frame number, quality, pdq hex, seconds) of every frame of the vPDQ reference output."""
    with open(os.path.join(folder, "vpdq-hashes", name + ".txt")) as f:
        return [(int(n), int(q), h, float(t)) for n, q, h, t in csv.reader(f)]


def one_per_second(frames, min_quality=50):
    chosen, next_second = [], 0.0
    for _, quality, pdq, seconds in frames:
        if seconds >= next_second:
            next_second = int(seconds) + 1.0
            if quality >= min_quality:
                chosen.append(pdq)
    return chosen


def reference_registry(folder: str) -> Registry:
    return registry_of_rows("vpdq-reference", [(entry, "pdq", pdq) for entry, name in ORIGINALS.items()
                                               for pdq in one_per_second(reference_frames(folder, name))])


def bits_from_reference(frames, reference):
    by_time = sorted(reference, key=lambda r: r[3])
    bits = []
    for frame in frames:
        if frame.variant != "original" or frame.quality < 50:
            continue
        _, quality, pdq, _ = min(by_time, key=lambda r: abs(r[3] - frame.time_s))
        if quality >= 50:
            bits.append(PDQ.distance(frame.pdq, bytes.fromhex(pdq)))
    return bits


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=os.path.join(HERE, "..", "shared", "conformance"))
    parser.add_argument("--sample_seconds", type=float, default=VideoSettings.sample_seconds)
    args = parser.parse_args(argv)
    folder = os.path.join(args.folder, "video")
    registry = reference_registry(folder)
    index = RegistryIndex(registry)
    frames_of_entry = collections.Counter(registry.entries_of(registry.rows["pdq"]))
    everything = MatchSettings(min_matched_frame_share=0.0, min_registry_frame_share=0.0)
    defaults = MatchSettings()
    print(f"registry: {dict(frames_of_entry)} frames; sample_seconds={args.sample_seconds}; "
          f"default minimums: matched {defaults.min_matched_frame_share}, registry {defaults.min_registry_frame_share}")
    print(f"{'video':34} {'frames':>6} {'bits med/max':>12}  {'entry':8} {'trimmed: matched/registry':>26} "
          f"{'as is: matched/registry':>24}  verdict")
    for name in sorted(f for f in os.listdir(folder) if f.endswith(".mp4")):
        with open(os.path.join(folder, name), "rb") as f:
            frames = hash_video(f.read(), VideoSettings(sample_seconds=args.sample_seconds)).frames
        bits = bits_from_reference(frames, reference_frames(folder, name[:-4]))
        media = media_hashes(MediaObject(name, "", None), "video", frames)
        as_is = media_hashes(MediaObject(name, "", None), "video", [f for f in frames if f.variant == "original"])
        shares = {m.entry_id: m for m in match_media(media, index, everything)}
        plain = {m.entry_id: m for m in match_media(as_is, index, everything)}
        verdict = sorted(m.entry_id for m in match_media(media, index, defaults) if m.signal_type == "pdq")
        times = len({f.time_s for f in frames})
        summary = f"{statistics.median(bits):.0f}/{max(bits)}" if bits else "-"
        for entry in ORIGINALS:
            m, p = shares.get(entry), plain.get(entry)
            trimmed = f"{m.matched_frame_share:6.0%} / {m.registry_frame_share:4.0%}" if m else "-"
            untrimmed = f"{p.matched_frame_share:6.0%} / {p.registry_frame_share:4.0%}" if p else "-"
            print(f"{name[:-4]:34} {times:>6} {summary:>12}  {entry:8} {trimmed:>26} {untrimmed:>24}  "
                  f"{'MATCH' if entry in verdict else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
