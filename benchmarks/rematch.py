"""The nightly case, measured: stored hashes against the entries added to the registry since.

Part 1, the matcher: N stored PDQ hashes shaped like a platform's media (pictures with their 8
dihedral variants, a third of the pictures near-duplicate re-uploads of another, 5 to 20 bits
apart) against M new entries (some of them copies of stored pictures, 0 to 31 bits away) at
threshold 31:
- ours: `Signal.pairs` over batches of stored hashes, as the scan's MatchStored does (the batch
  is indexed, the new entries query it);
- today's path: a PdqIndex built on the new entries, queried with every stored hash (measured on
  --baseline_hashes of them and scaled linearly to N: its cost per query is flat);
- recall of ours against brute force on a sample of the entries.

Part 2, the whole second night: a folder of --pictures photos scanned (night 1), then every file
overwritten by random bytes of the same size and modification time (any read of one would be an
error), and --new_entries entries registered (copies of stored pictures among them); night 2
must find those copies with 0 objects read.

    python -m benchmarks.rematch [--stored 10000000] [--entries 10000] [--pictures 1000]
"""
import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.image_hashing import HERE
from transforms.matching.new_entries import BATCH_HASHES
from transforms.signals.pdq import PDQ
from transforms.signals.pdq_index import PdqIndex

THRESHOLD = 31


def flip_bits(hashes: np.ndarray, bits: np.ndarray, rng) -> np.ndarray:
    """Each row with its own number of random bits flipped (distinct bits)."""
    out = hashes.copy()
    for row, count in enumerate(bits):
        for bit in rng.choice(256, int(count), replace=False):
            out[row, bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def media_shaped(count: int, rng) -> np.ndarray:
    pictures = max(1, count // 8)
    bases = rng.integers(0, 256, (pictures, 32), dtype=np.uint8)
    duplicates = rng.choice(pictures, pictures // 3, replace=False)
    sources = rng.integers(0, pictures, len(duplicates))
    bases[duplicates] = flip_bits(bases[sources], rng.integers(5, 21, len(duplicates)), rng)
    # a real picture's 8 dihedral PDQ hashes are far apart (benchmarks/dihedral_false_matches.py)
    variants = rng.integers(0, 256, (pictures, 7, 32), dtype=np.uint8)
    return np.concatenate([bases[:, None, :], variants], axis=1).reshape(-1, 32)[:count]


def new_entries(stored: np.ndarray, count: int, rng) -> np.ndarray:
    entries = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    copies = count // 10
    picked = rng.choice(len(stored) // 8, copies, replace=False) * 8
    entries[:copies] = flip_bits(stored[picked], rng.integers(0, 32, copies), rng)
    return entries


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def ours(stored: np.ndarray, entries: np.ndarray):
    found = []
    for first in range(0, len(stored), BATCH_HASHES):
        in_batch, in_entries, _ = PDQ.pairs(stored[first:first + BATCH_HASHES], entries, THRESHOLD)
        found.append(np.stack([in_batch + first, in_entries], axis=1))
    return np.concatenate(found)


def today(stored: np.ndarray, entries: np.ndarray):
    found_query, rows, _ = PdqIndex(entries, np.arange(len(entries))).query(stored, THRESHOLD)
    return np.stack([found_query, rows], axis=1)


def brute_force_recall(stored, entries, found, sample: int, rng) -> tuple:
    picked = rng.choice(len(entries), sample, replace=False)
    words = stored.view(np.uint64)
    expected = set()
    for e in picked:
        distances = np.bitwise_count(words ^ entries[e].view(np.uint64)).sum(axis=1)
        expected.update((int(s), int(e)) for s in np.flatnonzero(distances <= THRESHOLD))
    got = {(int(s), int(e)) for s, e in found if e in set(picked.tolist())}
    return len(expected & got), len(expected)


def part_one(args, rng) -> None:
    stored = media_shaped(args.stored, rng)
    entries = new_entries(stored, args.entries, rng)
    PDQ.pairs(stored[:5000], entries[:10], THRESHOLD)  # compile once, outside the timings
    found, cpu, wall = timed(lambda: ours(stored, entries))
    sample = stored[: args.baseline_hashes]
    baseline, base_cpu, base_wall = timed(lambda: today(sample, entries))
    scale = len(stored) / len(sample)
    like, like_cpu, like_wall = timed(lambda: ours(sample, entries))
    assert {tuple(r) for r in like.tolist()} == {tuple(r) for r in baseline.tolist()}
    hit, total = brute_force_recall(stored, entries, found, args.recall_sample, rng)
    print(f"part 1: {len(stored):,} stored PDQ hashes vs {len(entries):,} new entries, threshold {THRESHOLD}, "
          f"{os.cpu_count()} cores")
    print(f"{'':44} {'CPU s':>9} {'wall s':>9} {'pairs':>8}")
    print(f"{'ours (batches of %d, batch indexed)' % BATCH_HASHES:44} {cpu:>9.1f} {wall:>9.1f} {len(found):>8}")
    print(f"{'today: index on entries, %s queries' % f'{len(sample):,}':44} {base_cpu:>9.1f} {base_wall:>9.1f} "
          f"{len(baseline):>8}")
    print(f"{'  scaled to %s stored hashes' % f'{len(stored):,}':44} {base_cpu * scale:>9.1f} {base_wall * scale:>9.1f}")
    print(f"{'ours on the same %s' % f'{len(sample):,}':44} {like_cpu:>9.1f} {like_wall:>9.1f} {len(like):>8}"
          f"   (same pairs as today's path)")
    print(f"speed-up over today's path: {base_cpu * scale / cpu:.1f}x CPU, {base_wall * scale / wall:.1f}x wall; "
          f"recall against brute force on {args.recall_sample} entries: {hit}/{total}")
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def scan(media, registry, output) -> tuple:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pipelines.scan", f"--media={media}", f"--registry={registry}",
                             f"--output={output}"], cwd=HERE, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = max(glob.glob(os.path.join(output, "run=*")))
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return summary, cpu, wall


def part_two(args, rng) -> None:
    from tests.conftest import registry_csv, write
    from tests.media import encode, pdq_of_rgb, photo

    base = tempfile.mkdtemp(prefix="bench-nightly-")
    media, registry, output = (os.path.join(base, name) for name in ("media", "registry", "out"))
    seeds = list(range(1000, 1000 + args.pictures))
    for seed in seeds:
        side = (640, 1280, 1920, 4000)[seed % 4]
        write(os.path.join(media, f"{seed}.jpg"), encode(photo(seed, side, side * 3 // 4), "JPEG", quality=90))
    unrelated = [(f"U-{i}", "pdq", rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex(), "x", "x")
                 for i in range(args.new_entries)]
    write(os.path.join(registry, "v1", "entries.csv"), registry_csv(unrelated[:1]))
    write(os.path.join(registry, "v1", "_SUCCESS"), b"")
    first, first_cpu, first_wall = scan(media, registry, output)
    for path in glob.glob(os.path.join(media, "*")):
        stat = os.stat(path)
        write(path, os.urandom(stat.st_size))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    copies = [(f"N-{s}", "pdq", pdq_of_rgb(np.asarray(photo(s, 640, 480))).pdq.hex(), "tid", "m")
              for s in seeds[:: max(1, len(seeds) // 10)][:10]]
    write(os.path.join(registry, "v2", "entries.csv"), registry_csv(unrelated + copies))
    write(os.path.join(registry, "v2", "_SUCCESS"), b"")
    second, second_cpu, second_wall = scan(media, registry, output)
    print(f"\npart 2: {args.pictures} pictures (640 px to 12 MP JPEGs); night 2 adds {len(unrelated) - 1 + len(copies)} "
          f"entries, {len(copies)} of them copies of stored pictures (at 640 px)")
    print(f"{'':10} {'CPU s':>7} {'wall s':>7} {'hashed':>7} {'failed':>7} {'unchanged':>9} {'new_entry matches':>18}")
    for label, s, cpu, wall in (("night 1", first, first_cpu, first_wall), ("night 2", second, second_cpu, second_wall)):
        print(f"{label:10} {cpu:>7.1f} {wall:>7.1f} {s['hashed']:>7} {s['failed']:>7} {s['unchanged_skipped']:>9} "
              f"{s['new_entry_matches']:>18}")
    print(f"night 2 vs night 1: {first_cpu / second_cpu:.1f}x less CPU, {first_wall / second_wall:.1f}x less wall time; "
          f"objects read on night 2: {second['hashed'] + second['failed']} (every file was scrambled)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=10_000_000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--baseline_hashes", type=int, default=1_000_000)
    parser.add_argument("--recall_sample", type=int, default=100)
    parser.add_argument("--pictures", type=int, default=1000)
    parser.add_argument("--new_entries", type=int, default=100)
    parser.add_argument("--skip", choices=("matcher", "night"), help="leave one part out")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(7)
    if args.skip != "matcher":
        part_one(args, rng)
    if args.skip != "night":
        part_two(args, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
