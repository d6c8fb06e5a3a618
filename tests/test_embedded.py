"""Pictures inside pictures (tests/composites.py): regions proposed where the photo sits, found
by matching in each kind and by a scan end to end (the match row names the region), never in
negatives of the same kinds, and none without regions (--max_regions 0: the scan before them)."""
import glob
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines import scan
from tests.composites import KINDS
from tests.conftest import add_version, write
from tests.media import encode, pdq_of_rgb, photo
from transforms.media.images import hash_image
from transforms.media.regions import propose
from transforms.signals.pdq import PDQ

SEEDS = 4  # per kind: positives, and as many negatives


def distance(a: bytes, b: bytes) -> int:
    return PDQ.distance(a, b)


def usable(data: bytes, regions: int):
    return [h for frame in hash_image(data, 10**9, regions=regions) if frame.quality >= 50 for h in frame.signal_hashes()]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_found_through_its_regions_and_its_negatives_are_not(kind):
    found, false = 0, 0
    for i in range(SEEDS):
        seed = 40_000 + 100 * list(KINDS).index(kind) + i
        original = photo(seed)
        entry = pdq_of_rgb(np.asarray(original)).pdq
        composite, _ = KINDS[kind](original, np.random.default_rng(seed))
        data = encode(composite, "JPEG", quality=85) if i % 2 else encode(composite, "PNG")
        assert min(distance(h.value, entry) for h in usable(data, 0)) > 31  # whole, it is far from its entry
        near = [h for h in usable(data, 4) if distance(h.value, entry) <= 31]
        found += bool(near)
        assert all(h.variant.startswith("region:") for h in near)
        negative, _ = KINDS[kind](photo(seed + 50_000), np.random.default_rng(seed))
        false += sum(distance(h.value, entry) <= 31 for h in usable(encode(negative, "JPEG", quality=85), 4))
    assert found >= SEEDS - 1 and false == 0, (found, false)


def test_a_proposal_is_where_the_photo_is():
    composite, (x, y, w, h) = KINDS["screenshot"](photo(40_001), np.random.default_rng(1))
    luma = np.asarray(composite.convert("L"), dtype=np.float32)
    boxes = propose(luma, 4)
    assert any(abs(top - y) + abs(bottom - y - h) + abs(left - x) + abs(right - x - w) <= 12
               for top, bottom, left, right in boxes), (boxes, (x, y, w, h))
    assert propose(np.full((400, 300), 128, np.float32), 4) == []  # a flat picture holds none
    assert propose(luma, 0) == [] and propose(luma[:60, :60], 4) == []


def test_a_scan_finds_a_collage_cell_and_names_its_region(tmp_path):
    media, registry = str(tmp_path / "media"), str(tmp_path / "registry")
    original = photo(40_250)
    composite, (x, y, w, h) = KINDS["collage"](original, np.random.default_rng(5))  # 2 x 2, 16 px gutters
    write(os.path.join(media, "collage.jpg"), encode(composite, "JPEG", quality=90))
    add_version(registry, "v1", [("E-C", "pdq", pdq_of_rgb(np.asarray(original)).pdq.hex(), "take_it_down", "m")])
    rows = {}
    for regions in (0, 4):
        output = str(tmp_path / f"out-{regions}")
        assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}",
                          f"--max_regions={regions}"]) == 0
        rows[regions] = [r for f in glob.glob(os.path.join(output, "run=*", "matches", "*.parquet"))
                         for r in pq.read_table(f).to_pylist()]
    assert rows[0] == []
    (row,) = rows[4]
    variant = row["item_variant"].split("/")[0]
    rx, ry, rw, rh = (int(v) for v in variant.removeprefix("region:").split(","))
    assert row["entry_id"] == "E-C" and row["distance"] <= 31
    assert abs(rx - x) + abs(ry - y) + abs(rw - w) + abs(rh - h) <= 0.06 * (w + h), (variant, (x, y, w, h))
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={tmp_path / 'bad'}",
                      "--max_regions=-1"]) == 2
