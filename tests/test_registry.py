"""Registry snapshots: versions, formats, malformed rows, refusals."""
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import registry_csv, write
from transforms.registry.snapshots import RegistryRefused, Snapshot, load_registry, resolve_snapshot

PDQ = "f" * 64
MD5 = "a" * 32


def csv_file(tmp_path, rows, name="hashes.csv", **kwargs):
    path = tmp_path / name
    write(str(path), registry_csv(rows, **kwargs))
    return str(path)


def test_latest_complete_version_is_used(tmp_path):
    for version, complete in [("2026-11-01T0300Z", True), ("2026-11-02T0300Z", True), ("2026-11-03T0300Z", False)]:
        write(str(tmp_path / version / "a.csv"), registry_csv([("E", "pdq", PDQ, "s", "m")]))
        write(str(tmp_path / version / "b.parquet"), b"")
        if complete:
            write(str(tmp_path / version / "_SUCCESS"), b"")
    snapshot = resolve_snapshot(str(tmp_path))
    assert snapshot.version == "2026-11-02T0300Z"
    assert [f.rsplit("/", 1)[1] for f in snapshot.files] == ["a.csv", "b.parquet"]
    assert resolve_snapshot(str(tmp_path / "2026-11-01T0300Z")).version == "2026-11-01T0300Z"


def test_a_single_file_is_a_snapshot_named_after_it(tmp_path):
    path = csv_file(tmp_path, [("E", "pdq", PDQ, "s", "m")], name="tid-2026-11-25.csv")
    os.utime(path, (1_764_000_000, 1_764_000_000))  # written by hand at 2025-11-24T16:00:00Z
    assert resolve_snapshot(path) == Snapshot("tid-2026-11-25", (path,), "2025-11-24T16:00:00+00:00")


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "holds no complete version"),
        ({"v1/a.csv": b"x"}, "holds no complete version"),
        ({"v1/_SUCCESS": b""}, "holds no .csv or .parquet file"),
    ],
)
def test_roots_without_a_usable_version_are_refused(tmp_path, layout, message):
    for name, data in layout.items():
        write(str(tmp_path / name), data)
    with pytest.raises(RegistryRefused, match=message):
        resolve_snapshot(str(tmp_path))


def test_missing_registry_is_refused(tmp_path):
    with pytest.raises(RegistryRefused, match="does not exist"):
        resolve_snapshot(str(tmp_path / "nowhere.csv"))
    with pytest.raises(RegistryRefused, match="does not exist"):
        resolve_snapshot(str(tmp_path / "nowhere"))


def test_rows_are_normalised_metadata_kept_and_unknown_types_counted(tmp_path):
    rows = [
        ("E-1", " PDQ ", PDQ.upper(), "take_it_down", "m1"),
        ("E-1", "md5", MD5, "take_it_down", ""),
        ("E-2", "pdna", "AAAA", "ncmec", "m2"),
        ("E-3", "vpdq", "0" * 10, "ncmec", "m2"),
        ("E-4", "pdna", "BBBB", "ncmec", "m2"),
    ]
    registry = load_registry(Snapshot("v", (csv_file(tmp_path, rows),)))
    assert registry.signal_types.to_pylist() == ["pdq", "md5"]
    assert (registry.value("pdq", 0), registry.value("md5", 1)) == (bytes.fromhex(PDQ), bytes.fromhex(MD5))
    assert registry.entries == 1 and registry.rows_read == 5
    assert dict(registry.skipped_by_type) == {"pdna": 2, "vpdq": 1}
    assert registry.row_metadata(0) == {"source": "take_it_down", "member_id": "m1"}
    assert registry.row_metadata(1) == {"source": "take_it_down", "member_id": None}


def test_malformed_rows_are_rejected_with_file_line_and_reason(tmp_path):
    good = [("E-%d" % i, "pdq", PDQ, "s", "m") for i in range(20)]
    bad = [
        ("", "pdq", PDQ, "s", "m"),
        ("E-x", "", PDQ, "s", "m"),
        ("E-y", "pdq", PDQ[:-1], "s", "m"),
        ("E-z", "md5", "g" * 32, "s", "m"),
        ("E-w", "sha1", "", "s", "m"),
    ]
    path = csv_file(tmp_path, good[:10] + bad + good[10:])
    with open(path, "a") as f:
        f.write("E-v,pdq\n")  # a line with too few fields
    registry = load_registry(Snapshot("v", (path,)), max_reject_share=0.5)
    found = [(r.line, r.reason, r.entry_id) for r in registry.rejects]
    assert found == [
        (12, "missing_entry_id", ""),
        (13, "missing_signal_type", "E-x"),
        (14, "bad_length", "E-y"),
        (15, "not_hex", "E-z"),
        (16, "missing_value", "E-w"),
        (27, "bad_column_count", "E-v"),
    ]
    assert all(r.file == path for r in registry.rejects)
    assert registry.entries == 20 and registry.rows_read == 26


def test_too_many_malformed_rows_refuse_the_snapshot(tmp_path):
    rows = [("E-%d" % i, "pdq", PDQ, "s", "m") for i in range(999)] + [("E-bad", "pdq", "00", "s", "m")]
    path = csv_file(tmp_path, rows)
    assert len(load_registry(Snapshot("v", (path,))).rejects) == 1  # 1 in 1000 is allowed
    rows.append(("E-bad2", "md5", "zz", "s", "m"))
    with pytest.raises(RegistryRefused, match=r"2 of 1001 rows are malformed.*line 1001: bad_length"):
        load_registry(Snapshot("v", (csv_file(tmp_path, rows),)))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"entry_id,kind,value\nE,pdq,00\n", "lacks the column"),
        (b"", "is empty"),
        (b"entry_id,signal_type,signal_value\n", "has no rows"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"entry_id,signal_type,signal_value\nE,pdna,AAAA\n", "no rows of a supported signal type"),
    ],
)
def test_unusable_csv_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "r.csv"
    write(str(path), content)
    with pytest.raises(RegistryRefused, match=message) as caught:
        load_registry(Snapshot("v", (str(path),)))
    assert "\n" not in str(caught.value)


def test_parquet_snapshots_with_typed_metadata(tmp_path):
    table = pa.table(
        {
            "entry_id": ["E-1", "E-2", "E-3"],
            "signal_type": ["pdq", "sha1", "pdq"],
            "signal_value": [PDQ, "b" * 40, "nothex"],
            "added_at": pa.array([0, 1, 2], pa.timestamp("s", tz="UTC")),
            "uri": ["a", "b", "c"],  # clashes with a match column: renamed
        }
    )
    path = str(tmp_path / "r.parquet")
    pq.write_table(table, path)
    registry = load_registry(Snapshot("v", (path,)), max_reject_share=0.5)
    assert registry.metadata_columns == ("added_at", "entry_uri")
    assert registry.row_metadata(1)["entry_uri"] == "b" and registry.row_metadata(0)["added_at"].startswith("1970")
    assert [(r.line, r.reason) for r in registry.rejects] == [(3, "not_hex")]


def test_broken_parquet_is_refused(tmp_path):
    path = tmp_path / "r.parquet"
    write(str(path), b"PAR1 this is not parquet PAR1")
    with pytest.raises(RegistryRefused, match="not readable Parquet"):
        load_registry(Snapshot("v", (str(path),)))


def test_files_of_one_snapshot_are_combined(tmp_path):
    a = csv_file(tmp_path, [("E-1", "pdq", PDQ, "s", "m")], name="a.csv")
    b = csv_file(tmp_path, [("E-2", "md5", MD5)], name="b.csv", columns=("entry_id", "signal_type", "signal_value"))
    registry = load_registry(Snapshot("v", (a, b)))
    assert registry.entry_ids.to_pylist() == ["E-1", "E-2"]
    assert registry.row_metadata(1) == {"source": None, "member_id": None}


def test_metadata_columns_that_would_share_an_output_name_keep_their_own_values(tmp_path):
    rows = [("E1", "pdq", PDQ, "https://a/1", "https://b/1"), ("E2", "md5", MD5, "https://a/2", "https://b/2")]
    path = csv_file(tmp_path, rows, columns=("entry_id", "signal_type", "signal_value", "uri", "entry_uri"))
    registry = load_registry(Snapshot("v", (path,)))
    assert registry.metadata_columns == ("entry_uri", "entry_entry_uri")
    assert registry.row_metadata(0) == {"entry_uri": "https://a/1", "entry_entry_uri": "https://b/1"}
    assert registry.row_metadata(1) == {"entry_uri": "https://a/2", "entry_entry_uri": "https://b/2"}



def test_csv_lines_are_counted_through_blank_lines_and_cells_holding_newlines(tmp_path):
    text = ("entry_id,signal_type,signal_value,note\n"
            f"E-1,pdq,{PDQ},\"two\nlines\"\n"
            "\n"
            f"E-2,md5, {MD5.upper()} ,plain\n"
            "E-3,md5,abc,short\n")
    write(str(tmp_path / "r.csv"), text.encode())
    registry = load_registry(Snapshot("v", (str(tmp_path / "r.csv"),)), max_reject_share=0.5)
    assert [(r.line, r.reason) for r in registry.rejects] == [(6, "bad_length")]
    assert registry.value("md5", 1) == bytes.fromhex(MD5) and registry.row_metadata(0) == {"note": "two\nlines"}
    simple = tmp_path / "simple.csv"  # read by Arrow: every line one row
    write(str(simple), text.replace("\"two\nlines\"", "one").replace("\n\n", "\n").encode())
    assert [(r.line, r.reason) for r in load_registry(Snapshot("v", (str(simple),)), 0.5).rejects] == [(4, "bad_length")]


def test_parquet_dictionary_metadata_keeps_its_values_and_empty_cells_are_null(tmp_path):
    table = pa.table({"entry_id": ["E-1", "E-2", "E-3"], "signal_type": ["pdq"] * 3, "signal_value": [PDQ] * 3,
                      "source": pa.array(["ncmec", "", None]).dictionary_encode()})
    pq.write_table(table, str(tmp_path / "r.parquet"))
    registry = load_registry(Snapshot("v", (str(tmp_path / "r.parquet"),)))
    assert [registry.row_metadata(i)["source"] for i in range(3)] == ["ncmec", None, None]


def test_lines_stay_right_across_the_batches_of_a_large_csv(tmp_path, monkeypatch):
    import transforms.registry.snapshots as snapshots

    monkeypatch.setattr(snapshots, "_CSV_BATCH_ROWS", 3)  # ten rows: four batches
    rows = [("E-%d" % i, "pdq", PDQ if i != 6 else "00", "s", "m") for i in range(10)]
    registry = load_registry(Snapshot("v", (csv_file(tmp_path, rows),)), max_reject_share=0.5)
    assert [(r.line, r.entry_id) for r in registry.rejects] == [(8, "E-6")]
    assert registry.entry_ids.to_pylist() == ["E-%d" % i for i in range(10) if i != 6]
