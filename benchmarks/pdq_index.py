"""PDQ index: ours beside python-threatexchange's (faiss IndexBinaryMultiHash, 16 sub-hashes,
exact at 31) and faiss brute force, on registry-like data, at 1M and 10M hashes.

Registries hold clusters of near-duplicates (an image and its re-encodes, a video's frames), so
half the hashes come in clusters of 1 to 60 around random centres with about 5% of the bits
flipped, half are unrelated. Queries: 1,000 near registry hashes, 1,000 unrelated. Threshold 31, and 48
(against faiss brute force, as threatexchange's multi-hash index is exact only up to 31).
Recall is checked against brute force on 100 of the queries.

    ./dev.sh bench pdq_index [--sizes 1000000 10000000]
"""
import argparse
import sys
import time

import faiss
import numpy as np
from threatexchange.signal_type.pdq.pdq_faiss_matcher import PDQMultiHashIndex

from transforms.signals.pdq_index import PdqBruteForceIndex, PdqIndex

THRESHOLD = 31
HIGH_THRESHOLD = 48  # the top of the range the index is held to: radius 3 and 4 in its tables


def flip_bits(hashes: np.ndarray, share: float, rng) -> np.ndarray:
    out = hashes.copy()
    for start in range(0, len(out), 250_000):
        block = out[start : start + 250_000]
        block ^= np.packbits(rng.random((len(block), 256), dtype=np.float32) < share, axis=1)
    return out


def registry_like(size: int, rng) -> np.ndarray:
    sizes = np.minimum(rng.geometric(1 / 15, size // 10), 60)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), size // 2)]
    centres = rng.integers(0, 256, (len(sizes), 32), dtype=np.uint8)
    clustered = flip_bits(np.repeat(centres, sizes, axis=0), 0.05, rng)
    unrelated = rng.integers(0, 256, (size - len(clustered), 32), dtype=np.uint8)
    return np.vstack([clustered, unrelated])[rng.permutation(size)]


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


def pairs(found) -> set:
    return set(zip(found[0].tolist(), found[1].tolist()))


def threatexchange_pairs(results) -> set:
    return {(q, int(i)) for q, ids in enumerate(results) for i in ids}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(7)
    print(f"threshold {THRESHOLD}; faiss threads: {faiss.omp_get_max_threads()}")
    for size in args.sizes:
        hashes = registry_like(size, rng)
        ids = np.arange(size)
        near = flip_bits(hashes[rng.integers(0, size, 1000)], 0.05, rng)
        queries = np.vstack([near, rng.integers(0, 256, (1000, 32), dtype=np.uint8)])
        hex_queries = [q.tobytes().hex() for q in queries]
        ours, build = timed(lambda: PdqIndex(hashes, ids))
        ours.query(queries[:1], THRESHOLD)  # compiled on first use (cached on disk after)
        theirs = PDQMultiHashIndex()
        _, their_build = timed(lambda: theirs.add([h.tobytes().hex() for h in hashes], range(size)))
        flat = faiss.IndexBinaryFlat(256)  # what threatexchange's PDQFlatHashIndex wraps
        flat.add(hashes)
        found, ours_batch = timed(lambda: ours.query(queries, THRESHOLD))
        _, ours_single = timed(lambda: [ours.query(q, THRESHOLD) for q in queries[:300]])
        their_found, their_batch = timed(lambda: theirs.search(hex_queries, THRESHOLD, return_as_ids=True))
        _, their_single = timed(lambda: [theirs.search([q], THRESHOLD, return_as_ids=True) for q in hex_queries[:300]])
        flat_queries = queries[:200]
        _, flat_time = timed(lambda: flat.range_search(flat_queries, THRESHOLD + 1))
        _, ours_high = timed(lambda: ours.query(flat_queries, HIGH_THRESHOLD))
        _, flat_high = timed(lambda: flat.range_search(flat_queries, HIGH_THRESHOLD + 1))
        sample = np.concatenate([np.arange(50), np.arange(1000, 1050)])
        truth = pairs(PdqBruteForceIndex(hashes, ids).query(queries[sample], THRESHOLD))
        ours_sample = pairs(ours.query(queries[sample], THRESHOLD))
        theirs_sample = threatexchange_pairs(theirs.search([hex_queries[i] for i in sample], THRESHOLD, return_as_ids=True))
        print(f"\n{size:,} registry hashes ({hashes.nbytes / 2**20:.0f} MiB raw); {len(found[0]):,} pairs within "
              f"{THRESHOLD} for {len(queries):,} queries")
        print(f"{'':38} {'ours':>10} {'threatexchange':>15} {'speed-up':>9}")
        print(f"{'queries/s, batch of 2,000':38} {len(queries) / ours_batch:>10,.0f} {len(queries) / their_batch:>15,.0f} "
              f"{their_batch / ours_batch:>8.1f}x")
        print(f"{'queries/s, one at a time':38} {300 / ours_single:>10,.0f} {300 / their_single:>15,.0f} "
              f"{their_single / ours_single:>8.1f}x")
        print(f"{'queries/s, faiss brute force (batch)':38} {'':>10} {len(flat_queries) / flat_time:>15,.0f}")
        print(f"{f'queries/s at {HIGH_THRESHOLD}, vs faiss brute force':38} {len(flat_queries) / ours_high:>10,.0f} "
              f"{len(flat_queries) / flat_high:>15,.0f} {flat_high / ours_high:>8.1f}x")
        print(f"{'build, s':38} {build:>10.1f} {their_build:>15.1f}")
        print(f"{'index memory, bytes per hash':38} {ours.nbytes / size:>10.0f} {'':>15}")
        print(f"{'recall on 100 queries vs brute force':38} {len(ours_sample & truth) / len(truth):>10.1%} "
              f"{len(theirs_sample & truth) / len(truth):>15.1%}   ({len(truth)} true pairs; ours extra: "
              f"{len(ours_sample - truth)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
