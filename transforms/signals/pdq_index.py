"""Find every registry PDQ hash within a Hamming distance of each query hash.

`PdqIndex` is the index the scan uses (multi-index hashing, exact). `PdqBruteForceIndex` compares
each query with every registry hash (XOR and popcount in NumPy): exact by construction, the
reference PdqIndex is tested against, and its fallback for thresholds above 59.
"""
import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Tuple

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

HASH_BYTES = 32


class PdqBruteForceIndex:
    """Build from an N x 32 uint8 array and N integer ids; query a batch of hashes."""

    def __init__(self, hashes: np.ndarray, ids: np.ndarray):
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        if len(hashes) != len(ids):
            raise ValueError(f"{len(hashes)} hashes but {len(ids)} ids")
        self._words = hashes.view(np.uint64)  # N x 4
        self._ids = np.asarray(ids, dtype=np.int64)

    tables: Dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def query(self, queries: np.ndarray, threshold: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, id, distance) of every pair at distance <= threshold."""
        words = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES).view(np.uint64)
        found_query, found_row, found_distance = [], [], []
        for q, query in enumerate(words):
            distances = np.bitwise_count(self._words ^ query).sum(axis=1, dtype=np.int32)
            rows = np.flatnonzero(distances <= threshold)
            found_query.append(np.full(len(rows), q, dtype=np.int64))
            found_row.append(rows)
            found_distance.append(distances[rows])
        if not found_query:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        rows = np.concatenate(found_row)
        return np.concatenate(found_query), self._ids[rows], np.concatenate(found_distance)


@intrinsic
def _popcount(typingctx, x):
    """The bits set in a uint64: LLVM's ctpop, one instruction on CPUs that have one."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.call(builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)]), args)

    return types.int64(types.uint64), codegen


# 12 substrings: 4 of 22 bits, then 8 of 21 bits (256 bits in all)
_WIDTHS = np.array([22] * 4 + [21] * 8, dtype=np.int64)
_STARTS_BIT = np.concatenate(([0], np.cumsum(_WIDTHS)[:-1])).astype(np.int64)


@numba.njit(inline="always")
def _substring(w0, w1, w2, w3, start, width):
    word, offset = start // 64, np.uint64(start % 64)
    words = (w0, w1, w2, w3)
    value = words[word] >> offset
    if offset + np.uint64(width) > np.uint64(64):
        value |= words[word + 1] << (np.uint64(64) - offset)
    return value & ((np.uint64(1) << np.uint64(width)) - np.uint64(1))


@numba.njit(cache=True, nogil=True)
def _build_tables(words, order, starts, bucket_base):
    """Counting sort of the rows by each substring: order[t] lists rows by key, starts the buckets."""
    n = words.shape[0]
    for t in range(_WIDTHS.shape[0]):
        base = bucket_base[t]
        size = np.int64(1) << _WIDTHS[t]
        keys = np.empty(n, np.int64)
        for row in range(n):
            keys[row] = np.int64(_substring(words[row, 0], words[row, 1], words[row, 2], words[row, 3],
                                            _STARTS_BIT[t], _WIDTHS[t]))
            starts[base + keys[row] + 1] += 1
        for key in range(size):
            starts[base + key + 1] += starts[base + key]
        fill = starts[base : base + size].copy()
        for row in range(n):
            order[t, fill[keys[row]]] = row
            fill[keys[row]] += 1


@intrinsic
def _prefetch(typingctx, array, index):
    """Start loading array[index] (a C-contiguous 1-D array) into the cache, without waiting."""

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        pointer = cgutils.get_item_pointer(context, builder, array_type,
                                           context.make_array(array_type)(context, builder, args[0]), [args[1]])
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = builder.module.declare_intrinsic("llvm.prefetch", fnty=ir.FunctionType(
            ir.VoidType(), [byte_pointer, i32, i32, i32]))
        # a read, kept in every cache level, of data
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


_AHEAD = 8  # reads asked for this many steps before they are needed


@numba.njit(cache=True, nogil=True)
def _search(words, order, starts, bucket_base, radius, masks, mask_start, mask_count, queries, threshold):
    """Multi-index hashing: every (query, row, distance) within threshold, each pair once.

    A query's reads are scattered over hundreds of MB (bucket starts, permutations, hashes), so
    each query runs in three passes (bucket bounds, candidate rows, distances), each asking for
    the reads it will need a few steps ahead: many loads in flight instead of one at a time."""
    tables = _WIDTHS.shape[0]
    rows_per_table = order.shape[1]
    order_flat, words_flat = order.reshape(-1), words.reshape(-1)
    probes = mask_count.sum()
    bucket = np.empty(probes, np.int64)
    table = np.empty(probes, np.int64)
    first = np.empty(probes, np.int64)
    last = np.empty(probes, np.int64)
    candidates = np.empty(1024, np.int64)
    candidate_table = np.empty(1024, np.int64)
    capacity = 1024
    out_query = np.empty(capacity, np.int64)
    out_row = np.empty(capacity, np.int64)
    out_distance = np.empty(capacity, np.int32)
    found = 0
    for q in range(queries.shape[0]):
        q0, q1, q2, q3 = queries[q, 0], queries[q, 1], queries[q, 2], queries[q, 3]
        p = 0
        for t in range(tables):
            if radius[t] < 0:
                continue
            key = np.int64(_substring(q0, q1, q2, q3, _STARTS_BIT[t], _WIDTHS[t]))
            for m in range(mask_start[t], mask_start[t] + mask_count[t]):
                bucket[p], table[p] = bucket_base[t] + (key ^ masks[m]), t
                p += 1
        total = 0
        for i in range(p):
            if i + _AHEAD < p:
                _prefetch(starts, bucket[i + _AHEAD])
            first[i], last[i] = starts[bucket[i]], starts[bucket[i] + 1]
            total += last[i] - first[i]
        if total > candidates.shape[0]:
            candidates, candidate_table = np.empty(2 * total, np.int64), np.empty(2 * total, np.int64)
        c = 0
        for i in range(p):
            ahead = i + _AHEAD
            if ahead < p and first[ahead] < last[ahead]:
                _prefetch(order_flat, table[ahead] * rows_per_table + first[ahead])
            for position in range(first[i], last[i]):
                candidates[c], candidate_table[c] = order[table[i], position], table[i]
                c += 1
        for j in range(c):
            if j + _AHEAD < c:
                _prefetch(words_flat, candidates[j + _AHEAD] * 4)
            row = candidates[j]
            x0, x1, x2, x3 = words[row, 0] ^ q0, words[row, 1] ^ q1, words[row, 2] ^ q2, words[row, 3] ^ q3
            distance = _popcount(x0) + _popcount(x1) + _popcount(x2) + _popcount(x3)
            if distance > threshold:
                continue
            # keep the pair only in the first table whose substring is within its radius
            seen = False
            for earlier in range(candidate_table[j]):
                if radius[earlier] >= 0 and _popcount(
                    _substring(x0, x1, x2, x3, _STARTS_BIT[earlier], _WIDTHS[earlier])
                ) <= radius[earlier]:
                    seen = True
                    break
            if seen:
                continue
            if found == capacity:
                capacity *= 2
                out_query = np.concatenate((out_query, np.empty(capacity - found, np.int64)))
                out_row = np.concatenate((out_row, np.empty(capacity - found, np.int64)))
                out_distance = np.concatenate((out_distance, np.empty(capacity - found, np.int32)))
            out_query[found], out_row[found], out_distance[found] = q, row, distance
            found += 1
    return out_query[:found], out_row[:found], out_distance[:found]


def _masks(width: int, radius: int) -> list:
    """Every value of `width` bits with at most `radius` bits set."""
    return [sum(1 << b for b in bits) for r in range(radius + 1) for bits in itertools.combinations(range(width), r)]


class PdqIndex:
    """Exact PDQ range search by multi-index hashing, for registries of millions of hashes.

    Build from an N x 32 uint8 array and N integer ids; `query` a batch; get (query index, id,
    distance) of every pair within the threshold: the same answer as brute force.

    The 256 bits are cut into 12 substrings of 21 or 22 bits, and for each a table orders the
    hashes by that substring (a uint32 permutation and bucket starts). If two hashes are within
    distance d, then for radii r_i with sum(r_i + 1) = d + 1 some substring i differs by at most
    r_i bits (pigeonhole): for d = 31, 2 bits in 8 of the tables and 1 bit in the other 4. Probing
    each table with every value within its radius of the query's substring finds every candidate,
    which is then checked with XOR and popcount in a compiled loop (numba) that releases the GIL.
    Up to threshold 59 the tables answer (radius 4 in some tables from 48 on: thousands of probes
    a query, still far fewer rows read than brute force's every row); above, brute force does.
    Memory: 32 bytes of hash and 48 bytes of permutations per hash, plus 134 MB of bucket starts.
    At 10M hashes a query reads some 13,000 scattered cache lines (1,948 probes, 9,100 candidate
    rows at threshold 31): the search is bound by memory latency, not by the XOR and popcount,
    hence its passes that ask for their reads ahead.
    """

    _MAX_RADIUS = 4  # thresholds up to 59; beyond, the brute-force index answers
    _chunk = 64  # queries per task when a batch is spread over the cores

    def __init__(self, hashes: np.ndarray, ids: np.ndarray, tables: Optional[Dict[str, np.ndarray]] = None):
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        if len(hashes) != len(ids):
            raise ValueError(f"{len(hashes)} hashes but {len(ids)} ids")
        if len(hashes) >= 2**32:
            raise ValueError("at most 2**32 - 1 hashes")
        self._hashes = hashes
        self._words = hashes.view(np.uint64)
        self._ids = np.asarray(ids, dtype=np.int64)
        sizes = np.int64(1) << _WIDTHS
        self._bucket_base = np.concatenate(([0], np.cumsum(sizes + 1)[:-1])).astype(np.int64)
        if tables is not None:  # built before (a cached registry's, memory-mapped)
            self._starts, self._order = tables["starts"], tables["order"]
            return
        self._starts = np.zeros(int((sizes + 1).sum()), dtype=np.uint32)
        self._order = np.empty((len(_WIDTHS), len(hashes)), dtype=np.uint32)
        _build_tables(self._words, self._order, self._starts, self._bucket_base)

    @property
    def tables(self) -> Dict[str, np.ndarray]:
        return {"starts": self._starts, "order": self._order}

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        return self._hashes.nbytes + self._order.nbytes + self._starts.nbytes + self._ids.nbytes

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def _plan(threshold: int):
        """Per-table radius (-1: not probed) and probe masks for a threshold."""
        tables = len(_WIDTHS)
        quotient, remainder = divmod(threshold + 1, tables)
        # the narrower tables (the last ones) take the larger radius: fewer probes
        radius = np.array([quotient - 1] * (tables - remainder) + [quotient] * remainder, dtype=np.int64)
        masks = [_masks(int(w), int(r)) if r >= 0 else [] for w, r in zip(_WIDTHS, radius)]
        counts = np.array([len(m) for m in masks], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        flat = np.array([v for m in masks for v in m] or [0], dtype=np.int64)
        return radius, flat, starts, counts

    def query(self, queries: np.ndarray, threshold: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, id, distance) of every pair at distance <= threshold, each pair once."""
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, HASH_BYTES)
        if (threshold + 1) // len(_WIDTHS) > self._MAX_RADIUS:
            return PdqBruteForceIndex(self._hashes, self._ids).query(queries, threshold)
        radius, masks, mask_start, mask_count = self._plan(threshold)
        words = queries.view(np.uint64)
        search = lambda first: _search(
            self._words, self._order, self._starts, self._bucket_base, radius, masks, mask_start, mask_count,
            words[first : first + self._chunk], threshold,
        )
        # the compiled loop releases the GIL: large batches use every core
        firsts = range(0, len(words), self._chunk)
        parts = list(self._pool().map(search, firsts)) if len(words) > self._chunk else [search(0)]
        found_query = np.concatenate([q + first for (q, _, _), first in zip(parts, firsts)] or [np.empty(0, np.int64)])
        rows = np.concatenate([r for _, r, _ in parts] or [np.empty(0, np.int64)])
        distances = np.concatenate([d for _, _, d in parts] or [np.empty(0, np.int32)])
        return found_query, self._ids[rows], distances

    @classmethod
    def _pool(cls) -> ThreadPoolExecutor:
        if not hasattr(cls, "_executor"):
            cls._executor = ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="pdq-index")
        return cls._executor
