"""WriteParquetFolder: every row once in part files, a schema-only file for no rows, and the files
of bundles that did not count never in the folder."""
import glob
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.parquet_folder import WriteParquetFolder, finalize

SCHEMA = pa.schema([("uri", pa.string()), ("size", pa.int64()), ("tags", pa.list_(pa.string()))])


def rows(count, start=0):
    return [{"uri": f"s3://b/é {i}", "size": i, "tags": ["a"] * (i % 3)} for i in range(start, start + count)]


def write(folder, values):
    with beam.Pipeline() as p:
        p | beam.Create(values) | WriteParquetFolder(str(folder), SCHEMA)


def parts(folder):
    return sorted(os.path.basename(path) for path in glob.glob(os.path.join(folder, "*")))


def test_every_row_lands_once_in_part_files_in_large_row_groups(tmp_path):
    values = rows(25_000)
    write(tmp_path / "out", values)
    names = parts(tmp_path / "out")
    assert names and all(n.startswith("part-") and n.endswith(f"-of-{len(names):05d}.parquet") for n in names)
    table = pq.read_table(tmp_path / "out")
    assert table.schema.equals(SCHEMA)
    assert sorted(table.to_pylist(), key=lambda r: r["size"]) == values
    groups = sum(pq.ParquetFile(tmp_path / "out" / n).num_row_groups for n in names)
    assert groups <= len(names) * 2  # not a row group per batch of rows


def test_no_rows_still_leave_one_file_with_the_schema(tmp_path):
    write(tmp_path / "out", [])
    assert parts(tmp_path / "out") == ["part-00000-of-00001.parquet"]
    table = pq.read_table(tmp_path / "out" / "part-00000-of-00001.parquet")
    assert table.num_rows == 0 and table.schema.equals(SCHEMA)


def test_only_the_bundles_that_counted_are_renamed_and_a_second_finalize_changes_nothing(tmp_path):
    folder, temp = tmp_path / "out", tmp_path / "out" / "beam-temp-x"
    temp.mkdir(parents=True)
    written = []
    for name, start in (("a", 0), ("b", 10), ("retried", 0)):
        path = temp / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows(10, start), schema=SCHEMA), path)
        written.append(str(path))
    counted = written[:2]  # the retried attempt's file is not among the bundles' outputs
    final = finalize(str(folder), str(temp), SCHEMA, counted)
    assert parts(folder) == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"] == [os.path.basename(f) for f in final]
    assert sorted(r["size"] for r in pq.read_table(folder).to_pylist()) == list(range(20))
    assert finalize(str(folder), str(temp), SCHEMA, counted) == final  # the step run again
    assert parts(folder) == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]


def test_a_bundle_rolls_to_a_new_file_every_so_many_rows_and_keeps_every_row_once(tmp_path):
    values = rows(2_500)
    with beam.Pipeline() as p:
        p | beam.Create(values, reshuffle=False) | WriteParquetFolder(str(tmp_path / "out"), SCHEMA, (1_000, 3600.0))
    names = parts(tmp_path / "out")
    assert len(names) >= 3 and all(pq.ParquetFile(tmp_path / "out" / n).metadata.num_rows <= 1_000 for n in names)
    assert sorted(pq.read_table(tmp_path / "out").to_pylist(), key=lambda r: r["size"]) == values
