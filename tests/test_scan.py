"""End to end: the scan job on the generated corpus, through main() as a user runs it."""
import glob
import json
import os

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import scan
from tests.conftest import BAD_INPUTS, write
from transforms.signals import hasher_version
from transforms.schemas import ERROR_SCHEMA, WITHDRAWN_SCHEMA, hash_schema, match_schema


def run_scan(corpus, output, *extra):
    argv = [f"--media={corpus['media']}", f"--registry={corpus['registry']}", f"--output={output}", *extra]
    assert scan.main(argv) == 0
    (run_dir,) = sorted(glob.glob(os.path.join(output, "run=*")))[-1:]
    return run_dir


def read_folder(folder):
    return pq.ParquetDataset(folder).read().to_pylist()


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("scan-output"))
    return output, run_scan(corpus, output)


def relative(corpus, uri):
    return os.path.relpath(uri, corpus["media"])


def test_every_copy_matches_its_entry_and_nothing_else_matches(corpus, first_run):
    _, run_dir = first_run
    found = {}
    for row in read_folder(os.path.join(run_dir, "matches")):
        found.setdefault(relative(corpus, row["uri"]), set()).add(row["entry_id"])
    for path, entries in corpus["expected"].items():
        assert found.get(path, set()) == entries, path
    assert set(found) <= set(corpus["expected"])


def test_match_rows_carry_distance_quality_version_and_entry_metadata(corpus, first_run):
    _, run_dir = first_run
    rows = read_folder(os.path.join(run_dir, "matches"))
    pdq = [r for r in rows if r["signal_type"] == "pdq"]
    assert pdq and all(0 <= r["distance"] <= 31 and r["quality"] >= 50 for r in pdq)
    assert all(r["registry_version"] == "2026-11-20T0300Z" for r in rows)
    assert all(r["source"] == "take_it_down" and r["member_id"] == "m1" for r in pdq)
    exact = sorted((r["signal_type"], r["distance"], r["quality"]) for r in rows if r["entry_id"] == "E-13")
    assert exact == [("md5", 0, None), ("sha256", 0, None)]
    reencoded = [r for r in pdq if r["uri"].endswith("E-11/reencoded.jpg")]
    assert len(reencoded) == 1 and reencoded[0]["media_type"] == "image"
    assert reencoded[0]["frame_time_s"] is None and reencoded[0]["matched_frame_share"] is None


def test_bad_inputs_are_errors_with_their_reason(corpus, first_run):
    _, run_dir = first_run
    errors = {relative(corpus, r["uri"]): r for r in read_folder(os.path.join(run_dir, "errors"))}
    assert {path: e["reason"] for path, e in errors.items()} == BAD_INPUTS
    assert all(e["stage"] in ("read", "decode") and e["detail"] and e["object_version"] for e in errors.values())


def test_summary_reconciles(corpus, first_run):
    _, run_dir = first_run
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    listed = len(corpus["expected"]) + len(BAD_INPUTS)
    assert summary["listed"] == listed
    assert summary["listed"] == summary["unchanged_skipped"] + summary["hashed"] + summary["failed"]
    assert summary["failed"] == len(BAD_INPUTS)
    assert summary["matched_objects"] == sum(1 for e in corpus["expected"].values() if e)
    assert summary["registry_version"] == "2026-11-20T0300Z"
    assert summary["registry_entries"] == 3
    assert summary["registry_rejected"] == 0
    assert summary["registry_skipped_by_type"] == {"pdna": 1, "vpdq": 1}
    assert summary["timings"]["elapsed_s"] >= 0


def test_outputs_have_the_contract_schemas_and_open_in_duckdb(first_run):
    output, run_dir = first_run
    assert pq.read_schema(glob.glob(os.path.join(run_dir, "errors", "*.parquet"))[0]).equals(ERROR_SCHEMA)
    matches_schema = pq.read_schema(glob.glob(os.path.join(run_dir, "matches", "*.parquet"))[0])
    assert pq.read_schema(glob.glob(os.path.join(run_dir, "withdrawn", "*.parquet"))[0]).equals(WITHDRAWN_SCHEMA)
    assert matches_schema.equals(match_schema(["source", "member_id"]))
    hashes = glob.glob(os.path.join(output, "hashes", "run=*", "objects", "*.parquet"))
    assert pq.read_schema(hashes[0]).equals(hash_schema())
    described = duckdb.sql(f"DESCRIBE SELECT * FROM '{run_dir}/matches/*.parquet'").fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["scanned_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["distance"] == "INTEGER"


def test_hash_store_holds_every_hashed_object(corpus, first_run):
    output, run_dir = first_run
    store = os.path.join(output, "hashes", os.path.basename(run_dir))
    rows = read_folder(os.path.join(store, "objects"))
    by_uri = {relative(corpus, r["uri"]): r for r in rows}
    assert set(by_uri) == set(corpus["expected"]) and len(rows) == len(by_uri)
    assert all(r["hasher_version"] == hasher_version(r["media_type"]) and len(r["sha1"][0]) == 20 for r in rows)
    clip = by_uri["video/clip.mp4"]
    frames = sorted({(t, v) for t, v in zip(clip["pdq_time_s"], clip["pdq_variant"]) if "/" not in v})
    assert frames == [(0.0, "original"), (0.5, "original")]  # 1 s long: its keyframe, and one frame per 0.5 s
    assert clip["media_type"] == "video"
    photo = by_uri["unrelated/301.jpg"]
    whole = [v for v in photo["pdq_variant"] if not v.startswith("region:")]  # and the regions of its shapes
    assert min(photo["pdq_quality"]) >= 50 and len(whole) == 8 and len(photo["pdq"][0]) == 32
    state = read_folder(os.path.join(store, "state"))
    assert sorted(relative(corpus, r["uri"]) for r in state) == sorted(by_uri)
    assert os.path.exists(os.path.join(store, "_COMMITTED")) and os.path.exists(os.path.join(run_dir, "_SUCCESS"))


def test_a_second_run_skips_unchanged_objects_and_hashes_changed_ones(corpus, tmp_path):
    output = str(tmp_path / "out")
    run_scan(corpus, output)
    changed = os.path.join(corpus["media"], "unrelated", "302.jpg")
    os.utime(changed, ns=(1, 1))  # a new mtime is a new local object version
    try:
        run_dir = run_scan(corpus, output)
    finally:
        os.utime(changed)
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    assert summary["hashed"] == 1
    assert summary["failed"] == len(BAD_INPUTS)  # failures are tried again
    assert summary["unchanged_skipped"] == summary["listed"] - 1 - len(BAD_INPUTS)
    assert summary["matches"] == 0


def test_refused_registry_stops_before_reading_media(corpus, tmp_path, capsys):
    registry = tmp_path / "registry.csv"
    write(str(registry), b"entry_id,kind,value\nE-1,pdq,00\n")
    output = tmp_path / "out"
    argv = [f"--media={corpus['media']}", f"--registry={registry}", f"--output={output}"]
    assert scan.main(argv) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "lacks the column(s) signal_type, signal_value" in message
    assert not output.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--media=/nonexistent/media", "--registry=x.csv", "--output=/tmp/x"], "does not exist"),
        (["--media=/tmp"], "--registry is required"),
    ],
)
def test_bad_options_exit_non_zero_with_one_line(argv, message, capsys):
    assert scan.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
