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
from tests.media import encode, encode_clip, pdq_of_rgb, photo
from transforms.media.hashing import HashSettings
from transforms.media.images import hash_image
from transforms.media.regions import propose
from transforms.signals.pdq import PDQ

SEEDS = 4  # per kind: positives, and as many negatives
REGIONS = HashSettings.regions  # the scan's default


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
        near = [h for h in usable(data, REGIONS) if distance(h.value, entry) <= 31]
        found += bool(near)
        assert all(h.variant.startswith("region:") for h in near)
        negative, _ = KINDS[kind](photo(seed + 50_000), np.random.default_rng(seed))
        false += sum(distance(h.value, entry) <= 31 for h in usable(encode(negative, "JPEG", quality=85), REGIONS))
    assert found >= SEEDS - 1 and false == 0, (found, false)


def test_a_proposal_is_where_the_photo_is():
    composite, (x, y, w, h) = KINDS["screenshot"](photo(40_001), np.random.default_rng(1))
    luma = np.asarray(composite.convert("L"), dtype=np.float32)
    boxes = propose(luma, 4)
    assert any(abs(top - y) + abs(bottom - y - h) + abs(left - x) + abs(right - x - w) <= 12
               for top, bottom, left, right in boxes), (boxes, (x, y, w, h))
    assert propose(np.full((400, 300), 128, np.float32), 4) == []  # a flat picture holds none
    assert propose(luma, 0) == [] and propose(luma[:60, :60], 4) == []


def near(box, boxes, tolerance: int) -> bool:
    """Whether one of the boxes (top, bottom, left, right) has every side within tolerance of box's (x, y, w, h)."""
    x, y, w, h = box
    return any(max(abs(top - y), abs(bottom - y - h), abs(left - x), abs(right - x - w)) <= tolerance
               for top, bottom, left, right in boxes)


def test_every_cell_of_a_gutterless_collage_is_proposed():
    # no uniform line between the cells: only the seams, straight edges across the whole picture, cut it
    cells = [(x, y, 300, 300) for y in (0, 300) for x in (0, 300)]
    collage = np.zeros((600, 600, 3), np.uint8)
    for i, (x, y, w, h) in enumerate(cells):
        collage[y:y + h, x:x + w] = np.asarray(photo(41_000 + i, w, h))
    boxes = propose(np.asarray(collage, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32), 4)
    assert all(near(cell, boxes, 2) for cell in cells), boxes


def test_a_frame_is_cut_at_one_margin_on_all_four_sides():
    # a checkered frame's own lines are steps too: the photo's edge is the margin where all four sides step
    for seed in (23_004, 23_005):
        composite, box = KINDS["frame"](photo(seed), np.random.default_rng(seed))
        luma = np.asarray(composite.convert("L"), dtype=np.float32)
        assert near(box, propose(luma, 4), 2), (seed, box, propose(luma, 4))


def test_a_screenshots_photo_is_cut_from_the_line_of_text_just_above_it():
    # reduced for the analysis, the last line of text and the photo touch; at full scale a line of
    # the background's grey lies between them
    composite, box = KINDS["screenshot"](photo(60_002), np.random.default_rng(60_002))
    luma = np.asarray(composite.convert("L"), dtype=np.float32)
    assert near(box, propose(luma, REGIONS), 2), (box, propose(luma, REGIONS))


def test_a_pasted_photo_is_cut_at_its_own_edges_not_at_longer_ones_beside_them():
    # the photo pasted over another lies beside a bar and a shape whose edges run past its corners
    for seed in (24_001, 24_011):
        composite, box = KINDS["pip"](photo(seed), np.random.default_rng(seed))
        luma = np.asarray(composite.convert("L"), dtype=np.float32)
        assert near(box, propose(luma, REGIONS), 2), (seed, box, propose(luma, REGIONS))


def match_rows(tmp_path, media: str, registry: str, regions_each) -> dict:
    """The match rows of a scan of `media` with each --max_regions, by that number."""
    rows = {}
    for regions in regions_each:
        output = str(tmp_path / f"out-{regions}")
        assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}",
                          f"--max_regions={regions}"]) == 0
        rows[regions] = [r for f in glob.glob(os.path.join(output, "run=*", "matches", "*.parquet"))
                         for r in pq.read_table(f).to_pylist()]
    return rows


def test_a_scan_finds_a_registered_photo_inside_a_videos_keyframe(tmp_path):
    media, registry = str(tmp_path / "media"), str(tmp_path / "registry")
    original = photo(40_300)
    composite, _ = KINDS["caption"](original, np.random.default_rng(40_300))  # a meme, as a 2 s clip
    write(os.path.join(media, "meme.mp4"),
          encode_clip([composite.resize((composite.width // 2 * 2, composite.height // 2 * 2))] * 20, gop=10))
    add_version(registry, "v1", [("E-V", "pdq", pdq_of_rgb(np.asarray(original)).pdq.hex(), "take_it_down", "m")])
    rows = match_rows(tmp_path, media, registry, (0, REGIONS))
    assert rows[0] == []
    (row,) = rows[REGIONS]
    assert row["entry_id"] == "E-V" and row["item_variant"].startswith("region:") and row["distance"] <= 31, row


def test_a_scan_finds_a_collage_cell_and_names_its_region(tmp_path):
    media, registry = str(tmp_path / "media"), str(tmp_path / "registry")
    original = photo(40_250)
    composite, (x, y, w, h) = KINDS["collage"](original, np.random.default_rng(5))  # 2 x 2, 16 px gutters
    write(os.path.join(media, "collage.jpg"), encode(composite, "JPEG", quality=90))
    add_version(registry, "v1", [("E-C", "pdq", pdq_of_rgb(np.asarray(original)).pdq.hex(), "take_it_down", "m")])
    rows = match_rows(tmp_path, media, registry, (0, 4))
    assert rows[0] == []
    (row,) = rows[4]
    variant = row["item_variant"].split("/")[0]
    rx, ry, rw, rh = (int(v) for v in variant.removeprefix("region:").split(","))
    assert row["entry_id"] == "E-C" and row["distance"] <= 31
    assert abs(rx - x) + abs(ry - y) + abs(rw - w) + abs(rh - h) <= 0.06 * (w + h), (variant, (x, y, w, h))
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={tmp_path / 'bad'}",
                      "--max_regions=-1"]) == 2
