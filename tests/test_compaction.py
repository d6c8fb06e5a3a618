"""Compaction of the hash store over five nights: a night whose state may read too many superseded
rows rewrites the live ones into its own objects/ and points its state only there; a compaction
killed before its commit leaves the last state valid; the run folders older than a compaction go
once a later night has committed; and new entries still find stored objects hashed long before,
without any media read again."""
import glob
import json
import os

import pyarrow.parquet as pq

from pipelines import compact, scan
from tests.conftest import write
from tests.test_nightly import add_version, entry, scramble_unchanged, stored


def night(media, registry, output, *flags):
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}", *flags]) == 0
    run_dir = max(glob.glob(os.path.join(output, "run=*")))
    with open(os.path.join(run_dir, "summary.json")) as f:
        return os.path.basename(run_dir).removeprefix("run="), json.load(f)


def store_rows(output, run_id, part):
    files = glob.glob(os.path.join(output, "hashes", f"run={run_id}", part, "*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def matches(output, run_id):
    files = glob.glob(os.path.join(output, f"run={run_id}", "matches", "*.parquet"))
    return sorted((os.path.basename(r["uri"]), r["entry_id"], r["found_by"]) for f in files for r in pq.read_table(f).to_pylist())


def store_runs(output):
    return sorted(os.path.basename(p).removeprefix("run=") for p in glob.glob(os.path.join(output, "hashes", "run=*")))


def test_compaction_keeps_the_store_to_its_live_objects_and_finds_old_objects(tmp_path):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    for i in range(6):
        write(os.path.join(media, f"p{i}.jpg"), stored(700 + i, "plain"))
    add_version(registry, "v1", [entry("E-700", 700)])
    first, summary = night(media, registry, output)
    assert summary["compacted"] is False and "store_rows" not in summary  # a new store

    # night 2: two replaced, one deleted, one added: 9 stored rows for 6 live objects
    scramble_unchanged(media)
    for i in (1, 2):
        write(os.path.join(media, f"p{i}.jpg"), stored(710 + i, "plain"))
    os.remove(os.path.join(media, "p3.jpg"))
    write(os.path.join(media, "p6.jpg"), stored(706, "plain"))
    second, summary = night(media, registry, output)
    assert summary["compacted"] is False and summary["hashed"] == 3

    # night 3 compacts, and is killed before its commit: the next night starts from night 2's state
    scramble_unchanged(media)
    killed, summary = night(media, registry, output, "--compact_share=0.3")
    assert summary["compacted"] is True and summary["store_superseded_share"] == round(1 - 6 / 9, 4)
    os.remove(os.path.join(output, f"run={killed}", "_SUCCESS"))
    os.remove(os.path.join(output, "hashes", f"run={killed}", "_COMMITTED"))

    # night 4 compacts (and meets a new entry for p4, hashed on night 1)
    add_version(registry, "v2", [entry("E-700", 700), entry("E-704", 704)])
    third, summary = night(media, registry, output, "--compact_share=0.3")
    assert summary["compacted"] is True and summary["hashed"] == 0 and summary["unchanged_skipped"] == 6
    assert matches(output, third) == [("p4.jpg", "E-704", "new_entry")]
    state = store_rows(output, third, "state")
    assert len(state) == 6 and {row["hashed_run"] for row in state} == {third}
    objects = store_rows(output, third, "objects")
    assert sorted(os.path.basename(r["uri"]) for r in objects) == sorted(f"p{i}.jpg" for i in (0, 1, 2, 4, 5, 6))
    assert all(sum(not v.startswith("region:") for v in r["pdq_variant"]) == 8 for r in objects)  # every variant kept
    with open(os.path.join(output, "hashes", f"run={third}", "_COMMITTED")) as f:
        assert json.load(f)["compacted"] is True
    assert store_runs(output) == [first, second, killed, third]  # nothing deleted before a later commit

    # night 5: nothing to compact; the runs before the compaction go once it has committed
    add_version(registry, "v3", [entry("E-700", 700), entry("E-704", 704), entry("E-705", 705)])
    fourth, summary = night(media, registry, output)
    assert summary["compacted"] is False and summary["store_superseded_share"] == 0
    assert matches(output, fourth) == [("p5.jpg", "E-705", "new_entry")]
    fifth, summary = night(media, registry, output)
    assert store_runs(output) == [third, fourth, fifth]
    assert summary["store_runs"] == 2 and summary["store_rows"] == summary["store_live_rows"] == 6

    # after the deletion, a new entry still finds an object whose hashes now live in night 4's run
    add_version(registry, "v4", [entry("E-700", 700), entry("E-704", 704), entry("E-705", 705), entry("E-701", 711)])
    sixth, summary = night(media, registry, output)
    assert matches(output, sixth) == [("p1.jpg", "E-701", "new_entry")]
    assert summary["hashed"] == 0 and summary["failed"] == 0
    # of a run before the last two commits, only what later states point at is kept
    assert sorted(os.listdir(os.path.join(output, "hashes", f"run={third}"))) == ["_COMMITTED", "objects"]
    assert sorted(os.listdir(os.path.join(output, "hashes", f"run={fourth}"))) == ["_COMMITTED", "active", "objects",
                                                                                   "state"]


def test_the_compact_command_rewrites_the_store_and_the_next_night_goes_on_from_it(tmp_path, capsys):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    hashes = os.path.join(output, "hashes")
    assert compact.main([f"--hashes={hashes}"]) == 2
    assert capsys.readouterr().err.strip().endswith("holds no committed run to compact")
    for i in range(3):
        write(os.path.join(media, f"p{i}.jpg"), stored(730 + i, "plain"))
    add_version(registry, "v1", [entry("E-730", 730)])
    first, _ = night(media, registry, output)
    write(os.path.join(media, "p1.jpg"), stored(739, "plain"))
    second, _ = night(media, registry, output)
    capsys.readouterr()

    assert compact.main([f"--hashes={hashes}"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["objects"] == 3 and summary["standing_matches"] == 1 and summary["compacted_run"] == second
    assert summary["store_rows"] == 4 and summary["store_live_rows"] == 3
    compacted = summary["run_id"]
    assert {row["hashed_run"] for row in store_rows(output, compacted, "state")} == {compacted}
    assert [(os.path.basename(r["uri"]), r["entry_id"]) for r in store_rows(output, compacted, "active")] == [
        ("p0.jpg", "E-730")]

    scramble_unchanged(media)
    add_version(registry, "v2", [entry("E-730", 730), entry("E-731", 731)])
    third, summary = night(media, registry, output)
    assert summary["previous_run"] == compacted and summary["previous_registry_version"] == "v1"
    assert matches(output, third) == [] and summary["hashed"] == 0  # p1 holds another picture now
    add_version(registry, "v3", [entry("E-730", 730), entry("E-739", 739), entry("E-732", 732)])
    fourth, summary = night(media, registry, output)
    assert matches(output, fourth) == [("p1.jpg", "E-739", "new_entry"), ("p2.jpg", "E-732", "new_entry")]
    assert store_runs(output) == [compacted, third, fourth]  # first and second went after third committed
