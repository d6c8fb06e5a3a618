"""Matching: the threshold's edge, quality, exact hashes, best distance per entry, the index."""
import dataclasses

import numpy as np
import pytest

from transforms.media.hashing import media_hashes
from transforms.media.images import FrameHash
from transforms.matching.matcher import MatchSettings, RegistryIndex, match_media
from transforms.signals.pdq_index import PdqBruteForceIndex, PdqIndex
from transforms.registry.loaded import registry_of_rows
from transforms.signals.base import SignalHash
from transforms.signals.pdq import PDQ
from transforms.storage.objects import MediaObject

rng = np.random.default_rng(11)
BASE = rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip(hex_hash: str, bits: int, start: int = 0) -> str:
    """The hash with `bits` distinct bits flipped."""
    value = int(hex_hash, 16)
    for b in range(start, start + bits):
        value ^= 1 << b
    return f"{value:064x}"


def registry(rows):
    return registry_of_rows("v1", rows)


def media(frames, md5="0" * 32, sha1="0" * 40, sha256="0" * 64):
    hashes = media_hashes(MediaObject("file:///x.jpg", "v", 1), "image", frames)
    digests = {name: (SignalHash(bytes.fromhex(value)),) for name, value in (("md5", md5), ("sha1", sha1), ("sha256", sha256))}
    return dataclasses.replace(hashes, hashes={**hashes.hashes, **digests})


def test_distance_at_the_threshold_matches_and_one_more_does_not():
    index = RegistryIndex(registry([("AT", "pdq", flip(BASE, 31)), ("OVER", "pdq", flip(BASE, 32, start=100))]))
    found = match_media(media([FrameHash(bytes.fromhex(BASE), 90)]), index, MatchSettings())
    assert [(m.entry_id, m.distance) for m in found] == [("AT", 31)]
    stricter = match_media(media([FrameHash(bytes.fromhex(BASE), 90)]), index, MatchSettings(signal_options=(("pdq_threshold", 30),)))
    assert stricter == []


def test_low_quality_hashes_never_match():
    index = RegistryIndex(registry([("E", "pdq", BASE)]))
    assert match_media(media([FrameHash(bytes.fromhex(BASE), 49)]), index, MatchSettings()) == []
    assert len(match_media(media([FrameHash(bytes.fromhex(BASE), 50)]), index, MatchSettings())) == 1


def test_one_match_per_entry_and_signal_with_the_best_distance():
    index = RegistryIndex(
        registry(
            [
                ("E", "pdq", flip(BASE, 20)),
                ("E", "pdq", flip(BASE, 3)),
                ("E", "md5", "ab" * 16),
                ("E", "md5", "ab" * 16),
                ("F", "sha256", "cd" * 32),
            ]
        )
    )
    found = match_media(media([FrameHash(bytes.fromhex(BASE), 80)], md5="ab" * 16, sha256="cd" * 32), index, MatchSettings())
    assert sorted((m.entry_id, m.signal_type, m.distance, m.registry_row) for m in found) == [
        ("E", "md5", 0, 2),
        ("E", "pdq", 3, 1),
        ("F", "sha256", 0, 4),
    ]
    pdq = next(m for m in found if m.signal_type == "pdq")
    assert (pdq.item_hash, pdq.registry_hash, pdq.quality) == (BASE, flip(BASE, 3), 80)


def test_an_empty_pdq_side_still_matches_exact_hashes():
    index = RegistryIndex(registry([("E", "sha1", "1" * 40)]))
    found = match_media(media([FrameHash(bytes.fromhex(BASE), 90)], sha1="1" * 40), index, MatchSettings())
    assert [(m.entry_id, m.signal_type) for m in found] == [("E", "sha1")]


def clustered_registry(size=4000, centres=20):
    """Clusters of near-duplicates around a few centres, like real registries, plus random hashes."""
    middle = rng.integers(0, 256, (centres, 32), dtype=np.uint8)
    noise = np.unpackbits(rng.integers(0, 256, (size // 2, 32), dtype=np.uint8), axis=1)
    keep = rng.random(noise.shape) < 0.06  # about 15 bits flipped
    near = np.repeat(middle, size // 2 // centres, axis=0) ^ np.packbits(noise * keep, axis=1)
    return middle, np.vstack([near, rng.integers(0, 256, (size // 2, 32), dtype=np.uint8)])


@pytest.mark.parametrize("threshold", [0, 1, 11, 12, 23, 24, 30, 31, 32, 35, 36, 48])
def test_pdq_index_finds_what_brute_force_finds(threshold):
    centres, hashes = clustered_registry()
    ids = np.arange(len(hashes)) * 5 + 7
    exact = hashes[::101]
    at_edge = np.array([np.frombuffer(bytes.fromhex(flip(h.tobytes().hex(), threshold)), np.uint8) for h in hashes[3::211]])
    queries = np.vstack([centres, exact, at_edge, rng.integers(0, 256, (20, 32), dtype=np.uint8)])
    got = PdqIndex(hashes, ids).query(queries, threshold)
    expected = PdqBruteForceIndex(hashes, ids).query(queries, threshold)
    pairs = list(zip(*(a.tolist() for a in got)))
    assert sorted(pairs) == sorted(zip(*(a.tolist() for a in expected)))
    assert len(pairs) == len(set(pairs)) >= len(exact) + len(at_edge)  # each pair once, the edges found


def test_pdq_index_of_nothing_and_of_one_hash():
    empty = PdqIndex(np.zeros((0, 32), np.uint8), np.zeros(0, np.int64))
    assert all(len(a) == 0 for a in empty.query(np.zeros((3, 32), np.uint8), 31))
    one = PdqIndex(np.full((1, 32), 255, np.uint8), np.array([42]))
    q, ids, d = one.query(np.full((2, 32), 255, np.uint8), 31)
    assert q.tolist() == [0, 1] and ids.tolist() == [42, 42] and d.tolist() == [0, 0]


def test_brute_force_index_finds_exactly_the_pairs_within_the_threshold():
    centres, hashes = clustered_registry()
    ids = np.arange(len(hashes)) * 7
    queries = np.vstack([centres, hashes[::97]])
    got = set(zip(*(a.tolist() for a in PdqBruteForceIndex(hashes, ids).query(queries, 31))))
    values = [h.tobytes() for h in hashes]
    expected = {
        (q, int(ids[row]), d)
        for q, query in enumerate(queries)
        for row, h in enumerate(values)
        if (d := PDQ.distance(query.tobytes(), h)) <= 31
    }
    assert got == expected and len(expected) > len(queries)


def test_packing_round_trips():
    values = [bytes.fromhex(BASE), bytes.fromhex(flip(BASE, 5))]
    array = PDQ.pack(values)
    assert array.shape == (2, 32) and [row.tobytes() for row in array] == values


@pytest.mark.parametrize("index", [PdqIndex, PdqBruteForceIndex])
def test_index_rejects_mismatched_ids(index):
    with pytest.raises(ValueError):
        index(np.zeros((2, 32), np.uint8), np.arange(3))


def test_a_source_limit_drops_that_source_s_farther_matches_only(tmp_path):
    from tests.conftest import registry_csv, write
    from transforms.matching.matcher import parse_source_limits
    from transforms.registry.snapshots import Snapshot, load_registry

    path = str(tmp_path / "r.csv")
    write(path, registry_csv([("N-1", "pdq", flip(BASE, 12), "ncmec", "m"), ("S-1", "pdq", flip(BASE, 12), "stopncii", "m"),
                              ("S-2", "pdq", flip(BASE, 4), "stopncii", "m")]))
    index = RegistryIndex(load_registry(Snapshot("v1", (path,))))
    frames = media([FrameHash(bytes.fromhex(BASE), 90)])
    assert [m.entry_id for m in match_media(frames, index, MatchSettings())] == ["N-1", "S-1", "S-2"]
    limited = MatchSettings(source_limits=parse_source_limits("pdq:stopncii=10"))
    assert [(m.entry_id, m.distance) for m in match_media(frames, index, limited)] == [("N-1", 12), ("S-2", 4)]
    for bad in ("pdna:stopncii=3", "pdq:stopncii", "pdq=3", "tmk_pdqf:x=1", "pdq:x=-1"):
        with pytest.raises(ValueError):
            parse_source_limits(bad)
