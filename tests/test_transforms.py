"""The DoFns and PTransforms in real Beam pipelines (TestPipeline, assert_that)."""
import hashlib
import os

import apache_beam as beam
import numpy as np
import pdqhash
import pytest
import pyarrow as pa
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import registry_csv, write
from tests.media import encode, photo, pdq_of_rgb
from transforms.media.hashing import HashObjects, HashSettings, hash_object, media_hashes
from transforms.signals import hasher_version
from transforms.store.hash_store import media_of_row, object_row
from transforms.store.standing import match_key
from transforms.store.split import SplitListing
from transforms.media.images import FrameHash
from transforms.storage.listing import Listing, ListMedia
from transforms.storage.local import list_local, local_version
from transforms.storage.objects import MediaObject
from transforms.matching.matcher import MatchHashes, MatchPlan, MatchSettings
from transforms.reasons import MediaError, ScanError
from transforms.records import MediaHashes
from transforms.registry.snapshots import Snapshot
from transforms.schemas import hash_schema


def test_hash_objects_gives_each_object_exactly_one_outcome(tmp_path):
    good, empty, big = tmp_path / "good.jpg", tmp_path / "empty.png", tmp_path / "big.png"
    write(str(good), encode(photo(1), "JPEG"))
    write(str(empty), b"")
    write(str(big), encode(photo(2), "PNG"))
    objects = [MediaObject(str(p), local_version(os.stat(p)), os.path.getsize(p)) for p in (good, empty, big)]
    objects.append(MediaObject(str(tmp_path / "deleted.jpg"), "1-1", 10))
    settings = HashSettings(max_bytes=os.path.getsize(big) - 1, regions=0)
    with TestPipeline() as p:
        hashes, errors = (
            p | beam.Create(objects) | beam.ParDo(HashObjects(settings)).with_outputs("errors", main="hashes")
        )
        assert_that(
            hashes | beam.Map(lambda h: (os.path.basename(h.uri), h.media_type, sum(not x.derived for x in h.hashes["pdq"]))),
            equal_to([("good.jpg", "image", 1)]),
            label="hashes",
        )
        assert_that(
            errors | beam.Map(lambda e: (os.path.basename(e.uri), e.stage, e.reason)),
            equal_to([("empty.png", "read", "empty"), ("big.png", "read", "too_large"), ("deleted.jpg", "read", "gone")]),
            label="errors",
        )


def test_match_hashes_loads_the_registry_from_its_side_input(tmp_path):
    picture = photo(3)
    pdq = pdq_of_rgb(np.asarray(picture)).pdq.hex()
    registry = tmp_path / "r.csv"
    write(str(registry), registry_csv([("E-3", "pdq", pdq, "tid", "m")]))
    copy = tmp_path / "copy.jpg"
    write(str(copy), encode(picture, "JPEG", quality=70))
    obj = MediaObject(str(copy), "v", os.path.getsize(copy))
    with TestPipeline() as p:
        snapshot = p | "Snapshot" >> beam.Create([Snapshot("2026-11-25", (str(registry),))])
        rows = (
            p
            | beam.Create([obj])
            | beam.ParDo(HashObjects(HashSettings()))
            | beam.ParDo(MatchHashes(MatchPlan(MatchSettings(), 0.001, "run-1")), beam.pvalue.AsSingleton(snapshot))
        )
        assert_that(
            rows | beam.Map(lambda r: (r["entry_id"], r["signal_type"], r["source"], r["registry_version"], r["run_id"])),
            equal_to([("E-3", "pdq", "tid", "2026-11-25", "run-1")]),
        )


def test_list_media_walks_folders_and_tags_what_it_cannot_list(tmp_path):
    write(str(tmp_path / "a" / "b" / "deep.jpg"), b"x")
    write(str(tmp_path / "top.png"), b"y")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        can_list_anyway = os.access(locked, os.R_OK)  # root reads any folder
        with TestPipeline() as p:
            objects, errors, unlistable = p | ListMedia(Listing(str(tmp_path)))
            assert_that(
                objects | beam.Map(lambda o: os.path.relpath(o.uri, tmp_path)),
                equal_to(["a/b/deep.jpg", "top.png"]),
                label="objects",
            )
            assert_that(errors, equal_to([]), label="errors")
            assert_that(
                unlistable | beam.Map(lambda e: (e.stage, e.reason)),
                equal_to([] if can_list_anyway else [("list", "prefix_unlistable")]),
                label="unlistable",
            )
    finally:
        os.chmod(locked, 0o755)


def test_a_single_file_lists_itself(tmp_path):
    write(str(tmp_path / "one.jpg"), b"12345")
    (obj,) = list_local(str(tmp_path / "one.jpg"))
    assert obj.size == 5 and obj.version.startswith("5-")


def test_a_dangling_link_is_an_unlistable_object_when_links_are_followed(tmp_path):
    os.symlink(tmp_path / "missing.jpg", tmp_path / "link.jpg")
    (error,) = list_local(str(tmp_path), follow_symlinks=True)
    assert isinstance(error, ScanError) and error.reason == "unlistable" and error.uri.endswith("link.jpg")


def test_split_listing_joins_listing_with_the_last_state(tmp_path):
    state = [
        {"uri": "/m/same.jpg", "object_version": "v1", "hasher_version": hasher_version("image"), "media_type": "image",
         "hashed_run": "r1"},
        {"uri": "/m/old-hasher.jpg", "object_version": "v1", "hasher_version": "0/old", "media_type": "image",
         "hashed_run": "r1"},
        {"uri": "/m/deleted.jpg", "object_version": "v1", "hasher_version": hasher_version("image"), "media_type": "image",
         "hashed_run": "r1"},
        # videos gained TMK+PDQF in hasher 4: a video of 3 is read again, a picture of this hasher is not
        {"uri": "/m/before-tmk.mp4", "object_version": "v1", "hasher_version": "3/pdqhash-" + pdqhash.__version__,
         "media_type": "video", "hashed_run": "r1"},
        {"uri": "/m/picture.jpg", "object_version": "v1", "hasher_version": "5/pdqhash-" + pdqhash.__version__,
         "media_type": "image", "hashed_run": "r1"},
    ]
    state += [{**state[0], "uri": "/m/replaced.jpg"}, {**state[0], "uri": "/m/later/deleted.jpg"},
              {**state[0], "uri": "/m/unlistable/kept.jpg"}]
    active = [{"uri": u, "object_version": "v1", "entry_id": e, "signal_type": "pdq", "reported_run": "r1",
               "reported_registry_version": "v"}
              for u, e in (("/m/same.jpg", "E"), ("/m/replaced.jpg", "E"), ("/m/deleted.jpg", "E"),
                           ("/m/picture.jpg", "GONE"), ("/m/later/deleted.jpg", "GONE"), ("/m/unlistable/kept.jpg", "E"),
                           ("/m/old-hasher.jpg", "E"))]
    withdrawn = frozenset(match_key(row) for row in active if row["entry_id"] == "GONE")
    listed = [MediaObject("/m/same.jpg", "v1", 1), MediaObject("/m/replaced.jpg", "v2", 1),
              MediaObject("/m/old-hasher.jpg", "v1", 1), MediaObject("/m/new.jpg", "v1", 1),
              MediaObject("/m/before-tmk.mp4", "v1", 1), MediaObject("/m/picture.jpg", "v1", 1)]
    unlistable = [ScanError("/m/unlistable", None, "list", "prefix_unlistable", "PermissionError")]
    # hashes a run that did not commit wrote: of new.jpg's listed version, and of replaced.jpg's old one
    adoptable = [MediaHashes("/m/new.jpg", "v1", "image", {}), MediaHashes("/m/replaced.jpg", "v1", "image", {})]
    with TestPipeline() as p:
        changed, adopted, unchanged, unlisted, standing, withdrawals, deleted = (
            (p | "L" >> beam.Create(listed), p | "S" >> beam.Create(state), p | "A" >> beam.Create(active),
             p | "E" >> beam.Create(unlistable), p | "D" >> beam.Create(adoptable))
            | SplitListing(withdrawn=withdrawn)
        )
        uris = lambda label, pcoll: pcoll | label >> beam.Map(lambda r: getattr(r, "uri", None) or r["uri"])
        assert_that(uris("C", changed), equal_to(["/m/replaced.jpg", "/m/old-hasher.jpg", "/m/before-tmk.mp4"]),
                    label="c")
        assert_that(uris("AD", adopted), equal_to(["/m/new.jpg"]), label="ad")
        assert_that(uris("U", unchanged), equal_to(["/m/same.jpg", "/m/picture.jpg"]), label="u")
        # under a prefix that could not be listed: kept as it was, neither deleted nor hashed
        assert_that(uris("K", unlisted), equal_to(["/m/unlistable/kept.jpg"]), label="k")
        assert_that(uris("M", standing), equal_to(["/m/same.jpg", "/m/unlistable/kept.jpg"]), label="m")
        assert_that(uris("W", withdrawals), equal_to(["/m/picture.jpg"]), label="w")
        # gone, whatever happened to the entry: deleted (no version listed) or replaced (another one)
        assert_that(deleted | beam.Map(lambda r: (r["uri"], r["listed_version"])),
                    equal_to([("/m/replaced.jpg", "v2"), ("/m/deleted.jpg", None), ("/m/later/deleted.jpg", None)]),
                    label="d")


def test_split_listing_with_no_state_or_with_rescan_hashes_everything():
    listed = [MediaObject("/m/a.jpg", "v", 1)]
    state = [{"uri": "/m/a.jpg", "object_version": "v", "hasher_version": hasher_version("image"), "media_type": "image",
              "hashed_run": "r1"}]
    for stored, rescan in (([], False), (state, True)):
        with TestPipeline() as p:
            changed, unchanged, *_ = (
                (p | "L" >> beam.Create(listed), p | "S" >> beam.Create(stored), p | "A" >> beam.Create([]),
                 p | "E" >> beam.Create([]), p | "D" >> beam.Create([]))
                | SplitListing(rescan)
            )
            assert_that(changed | beam.Map(lambda o: o.uri), equal_to(["/m/a.jpg"]), label="c")
            assert_that(unchanged, equal_to([]), label="u")


def test_a_stored_row_gives_back_the_hashes_it_was_made_of():
    frame = FrameHash(b"\xab" * 32, 90, 1.5, "trimmed", tuple(bytes([i]) * 32 for i in range(7)))
    media = media_hashes(MediaObject("/m/v.mp4", "v1", 1), "video", (frame,), b"the video's bytes")
    row = object_row(media, "r1", None)
    assert pa.Table.from_pylist([row], hash_schema()).num_rows == 1
    assert row["pdq"][0] == b"\xab" * 32 and len(row["pdq"]) == 8
    assert row["md5"] == [hashlib.md5(b"the video's bytes").digest()]
    assert media_of_row(row).hashes == {**media.hashes, "tmk_pdqf": ()}


def test_hashing_reports_its_progress(tmp_path, caplog, monkeypatch):
    for i in range(3):
        write(str(tmp_path / f"{i}.jpg"), encode(photo(i, 64, 48), "JPEG"))
    write(str(tmp_path / "bad.jpg"), b"not a picture")
    objects = [MediaObject(str(p), "v", os.path.getsize(p)) for p in sorted(tmp_path.iterdir())]
    monkeypatch.setattr(HashObjects, "progress_interval_s", 0.0)
    with caplog.at_level("INFO", logger="takedown_scan.progress"):
        with TestPipeline() as p:
            _ = p | beam.Create(objects) | beam.ParDo(HashObjects(HashSettings())).with_outputs("errors", main="hashes")
    lines = [r.getMessage() for r in caplog.records if r.name == "takedown_scan.progress"]
    assert lines and lines[-1].startswith("3 objects hashed, 1 failed")


def test_error_details_are_the_same_every_run(tmp_path):
    path = tmp_path / "x.jpg"
    write(str(path), b"\xff\xd8\xff" + b"\x00" * 200)  # a JPEG signature, then nothing decodable
    obj = MediaObject(str(path), "v", os.path.getsize(path))
    details = set()
    for _ in range(2):
        with pytest.raises(MediaError) as failure:
            hash_object(obj, HashSettings())
        details.add(ScanError.of(obj.uri, obj.version, failure.value).detail)
    (detail,) = details
    assert "0x" not in detail and "object at" not in detail and len(detail) <= 300
