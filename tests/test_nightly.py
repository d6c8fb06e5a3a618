"""The nightly loop end to end, over three nights of the same command: new registry entries find
media already scanned without reading it again (between nights every unchanged file is overwritten
by random bytes of the same size and modification time, so that any re-read shows as an error),
withdrawn entries are reported, a run killed before its commit is ignored, and `rematch`."""
import glob
import json
import os
import shutil

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipelines import rematch, scan
from tests.conftest import REPO, add_version, write
from tests.media import encode, pdq_of_rgb, photo, with_bars
from apache_beam.testing.test_pipeline import TestPipeline
from transforms.reports.view import read_report, render_text
from transforms.store.commits import WriteMarkers, all_commits, commit_document, commit_marker

# file -> the picture it holds (a seed of tests.media.photo) and how it is stored
FILES = {
    "plain.jpg": (601, "plain"),
    "rotated.jpg": (602, "rotate90"),
    "mirrored.jpg": (603, "mirror"),
    "letterboxed.jpg": (604, "bars"),
    "other.jpg": (605, "plain"),
    "withdrawn.jpg": (606, "plain"),
    "changed.jpg": (607, "plain"),
    "deleted.jpg": (608, "plain"),
}
REPLACEMENT, NEW = 609, 610  # changed.jpg's new picture; new.jpg, added on night 2


def stored(seed: int, how: str) -> bytes:
    picture = photo(seed)
    if how == "rotate90":
        picture = picture.transpose(Image.Transpose.ROTATE_90)
    elif how == "mirror":
        picture = picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif how == "bars":
        picture = with_bars(picture, 640, 640)
    return encode(picture, "JPEG", quality=90)


def entry(name: str, seed: int):
    return (name, "pdq", pdq_of_rgb(np.asarray(photo(seed))).pdq.hex(), "take_it_down", "m1")


def scramble_unchanged(media: str) -> None:
    """Every file gets random bytes of its size and keeps its modification time: it is the same
    object version to a listing, and garbage to any reader."""
    for path in glob.glob(os.path.join(media, "*")):
        stat = os.stat(path)
        write(path, os.urandom(stat.st_size))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def night(media, registry, output):
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    run_dir = max(glob.glob(os.path.join(output, "run=*")))
    with open(os.path.join(run_dir, "summary.json")) as f:
        return run_dir, json.load(f)


def rows(run_dir, part):
    files = glob.glob(os.path.join(run_dir, part, "*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def found(run_dir):
    return sorted((os.path.basename(r["uri"]), r["entry_id"], r["found_by"]) for r in rows(run_dir, "matches"))


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    base = tmp_path_factory.mktemp("nightly")
    media, registry, output = str(base / "media"), str(base / "registry"), str(base / "out")
    for name, (seed, how) in FILES.items():
        write(os.path.join(media, name), stored(seed, how))
    v1 = [entry("W-606", 606), entry("X-608", 608)]
    add_version(registry, "v1", v1)
    first = night(media, registry, output)

    scramble_unchanged(media)
    os.remove(os.path.join(media, "deleted.jpg"))
    write(os.path.join(media, "changed.jpg"), stored(REPLACEMENT, "plain"))
    write(os.path.join(media, "new.jpg"), stored(NEW, "plain"))
    v2 = [v1[1]] + [entry(f"N-{seed}", seed) for seed in (601, 602, 603, 604, REPLACEMENT, NEW)]
    add_version(registry, "v2", v2)
    second = night(media, registry, output)

    # night 3: one more entry; a run is killed just before its commit, and the next one is run
    scramble_unchanged(media)
    write(os.path.join(media, "late.jpg"), stored(611, "plain"))
    add_version(registry, "v3", v2 + [entry("K-605", 605), entry("L-611", 611)])
    killed, _ = night(media, registry, output)
    os.remove(os.path.join(killed, "_SUCCESS"))
    os.remove(os.path.join(output, "hashes", os.path.basename(killed), "_COMMITTED"))
    third = night(media, registry, output)
    return {"media": media, "registry": registry, "output": output, "base": base,
            "first": first, "second": second, "killed": killed, "third": third}


def test_first_night_hashes_everything(nights):
    run_dir, summary = nights["first"]
    assert found(run_dir) == [("deleted.jpg", "X-608", "hashed"), ("withdrawn.jpg", "W-606", "hashed")]
    assert summary["hashed"] == len(FILES) and summary["unchanged_skipped"] == 0
    assert os.path.exists(os.path.join(run_dir, "_SUCCESS"))


def test_new_entries_find_stored_copies_without_reading_them(nights):
    run_dir, summary = nights["second"]
    assert found(run_dir) == [
        ("changed.jpg", f"N-{REPLACEMENT}", "hashed"),
        ("letterboxed.jpg", "N-604", "new_entry"),
        ("mirrored.jpg", "N-603", "new_entry"),
        ("new.jpg", f"N-{NEW}", "hashed"),
        ("plain.jpg", "N-601", "new_entry"),
        ("rotated.jpg", "N-602", "new_entry"),
    ]
    assert rows(run_dir, "errors") == []  # nothing of the scrambled files was read
    variants = {os.path.basename(r["uri"]): r["item_variant"] for r in rows(run_dir, "matches")}
    assert variants["letterboxed.jpg"].startswith("trimmed") and "/" in variants["rotated.jpg"]
    assert "/" in variants["mirrored.jpg"] and variants["plain.jpg"] == "original"
    assert summary["listed"] == 8 and summary["unchanged_skipped"] == 6 and summary["hashed"] == 2
    assert summary["listed"] == summary["unchanged_skipped"] + summary["hashed"] + summary["failed"]
    assert summary["entries_added"] == 6 and summary["entries_removed"] == 1
    assert summary["rematched_objects"] == 6 and summary["new_entry_matches"] == 4
    assert summary["matches"] == 6 and summary["previous_registry_version"] == "v1"


def test_withdrawn_entries_are_reported_once(nights):
    first_dir, _ = nights["first"]
    run_dir, summary = nights["second"]
    (withdrawn,) = rows(run_dir, "withdrawn")
    assert os.path.basename(withdrawn["uri"]) == "withdrawn.jpg" and withdrawn["entry_id"] == "W-606"
    assert withdrawn["reported_run"] == os.path.basename(first_dir).removeprefix("run=")
    assert withdrawn["registry_version"] == "v2" and withdrawn["reported_registry_version"] == "v1"
    assert summary["withdrawn_matches"] == 1
    third_dir, third = nights["third"]
    assert rows(third_dir, "withdrawn") == [] and third["withdrawn_matches"] == 0


def test_a_match_is_not_reported_again_and_a_killed_run_does_not_count(nights):
    run_dir, summary = nights["third"]
    # the killed run had hashed late.jpg and reported its match: the next run does both again
    assert found(nights["killed"]) == found(run_dir) == [
        ("late.jpg", "L-611", "hashed"), ("other.jpg", "K-605", "new_entry"),
    ]
    assert summary["previous_run"] == nights["second"][1]["run_id"]
    # late.jpg's hashes, which the killed run wrote, are adopted rather than hashed again
    assert summary["hashed"] == 0 and summary["adopted"] == 1
    assert summary["failed"] == 0 and summary["entries_added"] == 2


def test_the_hash_store_holds_every_variant_in_binary(nights):
    state = rows(os.path.join(nights["output"], "hashes", f"run={nights['third'][1]['run_id']}"), "state")
    assert sorted(os.path.basename(r["uri"]) for r in state) == sorted(
        set(FILES) - {"deleted.jpg"} | {"new.jpg", "late.jpg"}
    )
    (row,) = [r for r in rows(os.path.join(nights["output"], "hashes", f"run={nights['first'][1]['run_id']}"), "objects")
              if r["uri"].endswith("letterboxed.jpg")]
    assert all(isinstance(v, bytes) and len(v) == 32 for v in row["pdq"])
    pictures = {v for v in row["pdq_variant"] if "/" not in v}  # as is, its trims and its regions: 8 hashes each
    assert len(row["pdq"]) == 8 * len(pictures) and {"original", "trimmed", "trimmed/rotate90"} <= set(row["pdq_variant"])
    assert len(row["md5"]) == 1 and len(row["md5"][0]) == 16


def test_rematch_against_the_whole_registry_and_since_a_version(nights, tmp_path):
    hashes, registry = os.path.join(nights["output"], "hashes"), nights["registry"]
    assert rematch.main([f"--hashes={hashes}", f"--registry={registry}", f"--output={tmp_path / 'all'}"]) == 0
    (everything,) = glob.glob(str(tmp_path / "all" / "run=*"))
    assert {(uri, e) for uri, e, _ in found(everything)} == {
        ("changed.jpg", f"N-{REPLACEMENT}"), ("letterboxed.jpg", "N-604"), ("mirrored.jpg", "N-603"),
        ("new.jpg", f"N-{NEW}"), ("plain.jpg", "N-601"), ("rotated.jpg", "N-602"), ("other.jpg", "K-605"),
        ("late.jpg", "L-611"),
    }
    assert {by for _, _, by in found(everything)} == {"rematch"}
    assert os.path.exists(os.path.join(everything, "_SUCCESS"))
    argv = [f"--hashes={hashes}", f"--registry={registry}", f"--output={tmp_path / 'since'}", "--since=v2"]
    assert rematch.main(argv) == 0
    (since,) = glob.glob(str(tmp_path / "since" / "run=*"))
    assert found(since) == [("late.jpg", "L-611", "rematch"), ("other.jpg", "K-605", "rematch")]
    with open(os.path.join(since, "summary.json")) as f:
        assert json.load(f)["rematched_objects"] == 9


def test_a_deleted_or_replaced_object_is_not_a_withdrawal_whatever_its_entry(tmp_path):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    files = {"withdrawn.jpg": 621, "deleted-with-entry.jpg": 622, "deleted.jpg": 623, "replaced.jpg": 624, "kept.jpg": 625}
    for name, seed in files.items():
        write(os.path.join(media, name), stored(seed, "plain"))
    add_version(registry, "v1", [entry(f"E-{seed}", seed) for seed in files.values()])
    first, _ = night(media, registry, output)
    versions = {os.path.basename(r["uri"]): r["object_version"] for r in rows(first, "matches")}
    assert len(versions) == 5

    os.remove(os.path.join(media, "deleted-with-entry.jpg"))  # its entry leaves the registry the same night
    os.remove(os.path.join(media, "deleted.jpg"))
    write(os.path.join(media, "replaced.jpg"), stored(626, "plain"))  # another picture; its entry leaves too
    add_version(registry, "v2", [entry(f"E-{seed}", seed) for seed in (623, 625)])
    second, summary = night(media, registry, output)
    assert [(os.path.basename(r["uri"]), r["entry_id"]) for r in rows(second, "withdrawn")] == [("withdrawn.jpg", "E-621")]
    deleted = sorted((os.path.basename(r["uri"]), r["entry_id"], r["object_version"], r["listed_version"] is None)
                     for r in rows(second, "deleted"))
    assert deleted == [("deleted-with-entry.jpg", "E-622", versions["deleted-with-entry.jpg"], True),
                       ("deleted.jpg", "E-623", versions["deleted.jpg"], True),
                       ("replaced.jpg", "E-624", versions["replaced.jpg"], False)]
    assert summary["withdrawn_matches"] == 1 and summary["deleted_matches"] == 3
    active = [r for f in glob.glob(os.path.join(output, "hashes", os.path.basename(second), "active", "*.parquet"))
              for r in pq.read_table(f).to_pylist()]
    assert [(os.path.basename(r["uri"]), r["entry_id"]) for r in active] == [("kept.jpg", "E-625")]
    text = render_text(read_report(output, [os.path.basename(second).removeprefix("run=")]))
    assert "withdrawn: 1, objects gone (deleted or replaced): 3" in text

    third, summary = night(media, registry, output)  # nothing changed: nothing ends again
    assert rows(third, "withdrawn") == rows(third, "deleted") == []
    assert summary["withdrawn_matches"] == summary["deleted_matches"] == 0


def test_a_rematch_updates_the_standing_matches_as_a_night_would(tmp_path):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    hashes = os.path.join(output, "hashes")
    for name, seed in (("a.jpg", 641), ("b.jpg", 642), ("c.jpg", 643)):
        write(os.path.join(media, name), stored(seed, "plain"))
    add_version(registry, "v1", [entry("A", 641)])
    night(media, registry, output)
    add_version(registry, "v2", [entry("A", 641), entry("B", 642)])
    assert rematch.main([f"--hashes={hashes}", f"--registry={registry}", f"--output={tmp_path / 'r1'}",
                         "--since=v1"]) == 0
    (first,) = glob.glob(str(tmp_path / "r1" / "run=*"))
    assert found(first) == [("b.jpg", "B", "rematch")]

    scramble_unchanged(media)
    second, summary = night(media, registry, output)  # B is new since v1, and already reported
    assert found(second) == [] and summary["previous_registry_version"] == "v1" and summary["rematched_objects"] == 3
    add_version(registry, "v3", [entry("A", 641), entry("C", 643)])
    assert rematch.main([f"--hashes={hashes}", f"--registry={registry}", f"--output={tmp_path / 'r2'}"]) == 0
    (full,) = glob.glob(str(tmp_path / "r2" / "run=*"))
    assert found(full) == [("a.jpg", "A", "rematch"), ("c.jpg", "C", "rematch")]
    third, summary = night(media, registry, output)  # after a full rematch: nothing new since v3
    assert summary["previous_registry_version"] == "v3" and summary["rematched_objects"] == 0
    assert found(third) == []
    assert [(os.path.basename(r["uri"]), r["entry_id"]) for r in rows(third, "withdrawn")] == [("b.jpg", "B")]


def test_a_run_that_read_a_store_another_run_has_moved_on_does_not_commit_to_it(tmp_path):
    hashes = str(tmp_path / "hashes")
    for run in ("r1", "r2"):
        path, content = commit_marker(hashes, commit_document(run, "v1", ["f"]))
        write(path, content)
    with TestPipeline() as p:
        for run, expected in (("r3", "r1"), ("r4", "r2")):
            p | f"Commit-{run}" >> WriteMarkers([commit_marker(hashes, commit_document(run, "v1", ["f"]))], [],
                                                unless_moved=(hashes, expected))
    assert [c.run_id for c in all_commits(hashes)] == ["r1", "r2", "r4"]


def test_rescan_unchanged_hashes_everything_again(tmp_path):
    media, registry = str(tmp_path / "media"), str(tmp_path / "registry")
    write(os.path.join(media, "a.jpg"), stored(601, "plain"))
    add_version(registry, "v1", [entry("A", 601)])
    night(media, registry, str(tmp_path / "out"))
    argv = [f"--media={media}", f"--registry={registry}", f"--output={tmp_path / 'out'}", "--rescan_unchanged"]
    assert scan.main(argv) == 0
    run_dir = max(glob.glob(str(tmp_path / "out" / "run=*")))
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert summary["hashed"] == 1 and summary["unchanged_skipped"] == 0
    assert found(run_dir) == [("a.jpg", "A", "hashed")]


def test_an_old_hash_store_is_refused_with_what_to_do(tmp_path, capsys):
    media, registry = str(tmp_path / "media"), str(tmp_path / "registry")
    write(os.path.join(media, "a.jpg"), stored(601, "plain"))
    add_version(registry, "v1", [entry("A", 601)])
    write(str(tmp_path / "out" / "hashes" / "run=1" / "part-00000-of-00001.parquet"), b"PAR1")
    argv = [f"--media={media}", f"--registry={registry}", f"--output={tmp_path / 'out'}"]
    assert scan.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "format of takedown-scan 0.1" in err and "new folder" in err


def readme_queries():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("## The nightly loop"):]
    section = section[: section.index("\n## ", 1)]
    return [block.split("```", 1)[0] for block in section.split("```sql\n")[1:]]


def test_the_readme_queries_read_the_nights(nights, tmp_path):
    last, withdrawals, all_time = readme_queries()
    run = lambda sql, output: duckdb.sql(sql.replace("reports/", output + "/")).fetchall()
    output = nights["output"]
    assert sorted((os.path.basename(r[0]), r[1], r[4]) for r in run(last, output)) == found(nights["third"][0])
    assert run(withdrawals, output) == []
    standing = sorted((os.path.basename(r[0]), r[1]) for r in run(all_time, output))
    # nights 1, 2, 3: 2 + 6 + 2 matches, none twice, less withdrawn.jpg's (withdrawn) and deleted.jpg's (gone)
    assert ("withdrawn.jpg", "W-606") not in standing and ("deleted.jpg", "X-608") not in standing
    assert len(standing) == 8
    # as it stood after night 2: one withdrawal
    two_nights = str(tmp_path / "two")
    shutil.copytree(output, two_nights, ignore=shutil.ignore_patterns("hashes"))
    for run_dir in (nights["killed"], nights["third"][0]):
        shutil.rmtree(os.path.join(two_nights, os.path.basename(run_dir)))
    assert [(os.path.basename(r[0]), r[1]) for r in run(withdrawals, two_nights)] == [("withdrawn.jpg", "W-606")]
