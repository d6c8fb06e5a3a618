"""Write the run's outputs: Parquet folders (matches, errors, registry rejects, withdrawals) and
summary.json, whose counts reconcile: listed == unchanged_skipped + hashed + failed."""
import json
import time
from datetime import datetime, timezone
from typing import Dict, List, Sequence, Tuple, Union

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.parquet_folder import WriteParquetFolder
from transforms.registry.loaded import Registry
from transforms.schemas import ERROR_SCHEMA, match_schema


def error_row(error, run_id: str) -> dict:
    return {"run_id": run_id, **error._asdict()}


class WriteMatches(beam.PTransform):
    """Match rows -> FOLDER/*.parquet, with the registry's metadata columns."""

    def __init__(self, folder: str, registry: Registry):
        super().__init__()
        self._write = WriteParquetFolder(folder, match_schema(registry.metadata_columns))

    def expand(self, matches):
        return matches | "Write" >> self._write


class WriteErrors(beam.PTransform):
    """ScanErrors -> FOLDER/*.parquet."""

    def __init__(self, folder: str, run_id: str):
        super().__init__()
        self._folder = folder
        self._run_id = run_id

    def expand(self, errors):
        return (
            errors
            | "Rows" >> beam.Map(error_row, self._run_id)
            | "Write" >> WriteParquetFolder(self._folder, ERROR_SCHEMA)
        )


class WriteRows(beam.PTransform):
    """Rows the launcher holds (a few: registry rejects, withdrawals) -> FOLDER/*.parquet. With
    `always` False, nothing is written when there are none."""

    def __init__(self, folder: str, rows: Sequence[Dict], schema, always: bool = True):
        super().__init__()
        self._folder = folder
        self._rows = list(rows)
        self._schema = schema
        self._always = always

    def expand(self, pbegin):
        rows = pbegin | "Rows" >> beam.Create(self._rows)
        if not (self._rows or self._always):
            return rows
        return rows | "Write" >> WriteParquetFolder(self._folder, self._schema)


def reject_rows(rejects: Sequence, run_id: str) -> List[Dict]:
    return [{"run_id": run_id, **vars(r)} for r in rejects]


class WriteSummary(beam.PTransform):
    """Count each named PCollection (or the elements of a tuple of them, together) and write the
    counts, with `base` fields, to a summary.json."""

    def __init__(self, path: str, base: Dict, counted: Dict[str, Union[beam.PCollection, Tuple[beam.PCollection, ...]]]):
        super().__init__()
        self._path = path
        self._base = base
        self._counted = counted

    def expand(self, pbegin):
        counted = dict(self._counted)
        if "matches" in counted:
            counted["matched_objects"] = (
                counted["matches"] | "MatchedUris" >> beam.Map(_uri_of) | "DistinctUris" >> beam.Distinct()
            )
        # one count per name over one flattened collection: a Count.Globally each would be ten
        # combines, ten groupings and ten side inputs to build, plan and run
        named = [(name, f"Name_{name}", pcolls) for name, pcolls in counted.items() if not isinstance(pcolls, tuple)]
        named += [(name, f"Name_{name}_{i}", pcoll) for name, pcolls in counted.items() if isinstance(pcolls, tuple)
                  for i, pcoll in enumerate(pcolls)]
        counts = (
            [pcoll | label >> beam.Map(_constant, name) for name, label, pcoll in named]
            | "Names" >> beam.Flatten()
            | "Count" >> beam.combiners.Count.PerElement()
        )
        return (
            pbegin
            | "Once" >> beam.Impulse()
            | "Write" >> beam.Map(_write_summary, self._path, self._base, list(counted), beam.pvalue.AsDict(counts))
        )


def _constant(_, value):
    return value


def _uri_of(row: Dict) -> str:
    return row["uri"]


def summary(base: Dict, counts: Dict[str, int]) -> Dict:
    """The summary.json document: launcher facts, the run's counts, and its timings."""
    finished = time.time()
    counts = dict(counts)
    result = dict(base)
    if "listed_objects" in counts:  # a scan: what was listed, and how much of it was skipped
        result["listed"] = counts.pop("listed_objects") + counts.pop("list_errors")
        result["unchanged_skipped"] = counts.pop("unchanged")
    result.update(counts)
    result["timings"] = {
        "started_at": base["started_at"],
        "finished_at": datetime.fromtimestamp(finished, timezone.utc).isoformat(),
        "elapsed_s": round(finished - datetime.fromisoformat(base["started_at"]).timestamp(), 3),
    }
    del result["started_at"]
    return result


def _write_summary(_, path: str, base: Dict, names: List[str], counts: Dict[str, int]) -> Dict:
    document = summary(base, {name: counts.get(name, 0) for name in names})
    with FileSystems.create(path, mime_type="application/json") as f:
        f.write(json.dumps(document, indent=2, sort_keys=True).encode() + b"\n")
    return document
