"""Stored hashes against new entries: Signal.pairs and the batch prefilter against brute force,
at thresholds 0, 31 and 32, with pairs exactly at the threshold."""
import numpy as np
import pytest

from tests.test_matching import BASE, flip, registry
from transforms.matching.matcher import MatchSettings, RegistryIndex, match_media
from transforms.matching.new_entries import candidates
from transforms.media.hashing import media_hashes
from transforms.media.images import FrameHash
from transforms.signals.exact import DIGESTS
from transforms.signals.pdq import PDQ
from transforms.storage.objects import MediaObject
from transforms.store.hash_store import object_row

rng = np.random.default_rng(5)


def brute_force(a, b, threshold):
    distances = np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2)
    i, j = np.nonzero(distances <= threshold)
    return set(zip(i.tolist(), j.tolist(), distances[i, j].tolist()))


def near(base: np.ndarray, bits: int) -> np.ndarray:
    """`base` with exactly `bits` distinct bits flipped."""
    out = base.copy()
    for bit in rng.choice(256, bits, replace=False):
        out[bit // 8] ^= 1 << (bit % 8)
    return out


@pytest.mark.parametrize("threshold", [0, 31, 32])
@pytest.mark.parametrize("stored_count", [50, 6000])  # brute force, and the multi-index, on the stored side
def test_pairs_equal_brute_force(threshold, stored_count):
    entries = rng.integers(0, 256, (40, 32), dtype=np.uint8)
    stored = rng.integers(0, 256, (stored_count, 32), dtype=np.uint8)
    # copies of entries at distances around the threshold, exactly at it included
    for k, bits in enumerate([0, 1, threshold, threshold, threshold + 1, 20, 31, 32, 33]):
        stored[k] = near(entries[k % len(entries)], bits)
    expected = brute_force(stored, entries, threshold)
    got = set(zip(*(x.tolist() for x in PDQ.pairs(stored, entries, threshold))))
    assert got == expected and any(d == threshold for _, _, d in expected)
    swapped = set(zip(*(x.tolist() for x in PDQ.pairs(entries, stored, threshold))))
    assert swapped == {(j, i, d) for i, j, d in expected}


def test_exact_pairs_find_every_equal_value_and_nothing_else():
    md5 = DIGESTS[0]
    entries = rng.integers(0, 256, (30, 16), dtype=np.uint8)
    stored = rng.integers(0, 256, (500, 16), dtype=np.uint8)
    stored[[3, 7, 9]] = entries[[1, 1, 4]]
    stored[11] = entries[5]
    stored[11, 15] ^= 1  # same first 8 bytes, one bit off at the end: no match
    a, b, d = md5.pairs(stored, entries, 0)
    assert sorted(zip(a.tolist(), b.tolist())) == [(3, 1), (7, 1), (9, 4)] and not d.any()


@pytest.mark.parametrize("threshold", [0, 31, 32])
def test_the_batch_prefilter_keeps_exactly_the_objects_that_match(threshold):
    entries = [("AT", "pdq", flip(BASE, threshold)), ("OVER", "pdq", flip(BASE, threshold + 1, start=100))]
    index = RegistryIndex(registry(entries))
    settings = MatchSettings(signal_options=(("pdq_threshold", threshold),))
    objects = []
    for i, (value, quality) in enumerate([(BASE, 90), (BASE, 10), (flip(BASE, 60), 90), (flip(BASE, 1, 200), 90)]):
        media = media_hashes(MediaObject(f"/m/{i}.jpg", "v", 1), "image", [FrameHash(bytes.fromhex(value), quality)])
        objects.append(media)
    rows = [object_row(m, "r1", None) for m in objects]
    expected = {i for i, m in enumerate(objects) if match_media(m, index, settings)}
    assert candidates(rows, index, settings) == expected
    assert 0 in expected and 1 not in expected  # at the threshold; too low a quality
