"""Registry versions as `sync` writes them: ROOT/VERSION/ holds one Parquet file per source
(`ncmec.parquet`, `stopncii.parquet`), every other file of the version before carried forward, the
rows whose values are malformed under `quarantine/SOURCE.parquet` (the scan never reads them), a
`manifest.json` (each source's checkpoint and counts, the sha256 and rows of every file) and
`_SUCCESS`, written last. A version that was not finished has no marker and is never used.
"""
import hashlib
import io
import json
import posixpath
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.registry.feed import RECORD_METADATA
from transforms.registry.rows import normalised_values
from transforms.registry.snapshots import SUCCESS_MARKER, complete_versions
from transforms.storage.objects import is_remote

MANIFEST = "manifest.json"
QUARANTINE = "quarantine"
COLUMNS = ("entry_id", "signal_type", "signal_value", "source") + RECORD_METADATA + ("added_at", "updated_at")
VERSION_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
QUARANTINE_SCHEMA = SCHEMA.append(pa.field("reason", pa.string()))


class SyncRefused(Exception):
    """The version cannot be written; str() is a one-line reason. The root is left as it was."""


@dataclass(frozen=True)
class Base:
    """The latest complete version of a root, which a sync starts from (all None in a new root)."""

    folder: Optional[str] = None
    version: Optional[str] = None
    manifest: Dict = field(default_factory=dict)

    def source(self, name: str) -> Dict:
        return self.manifest.get("sources", {}).get(name, {})


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def files_in(folder: str) -> List[str]:
    return sorted(m.path for m in FileSystems.match([FileSystems.join(folder, "*")])[0].metadata_list
                  if not m.path.endswith("/"))


def delete_folder(folder: str) -> None:
    if is_remote(folder):
        paths = [m.path for m in FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list]
        if paths:
            FileSystems.delete(paths)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def base_version(root: str) -> Base:
    """The latest complete version of root with its manifest (a version not written by sync has none)."""
    try:
        versions = complete_versions(root)
        if not versions:
            return Base()
        folder = versions[-1]
        manifest_path = FileSystems.join(folder, MANIFEST)
        manifest = json.loads(read_bytes(manifest_path)) if FileSystems.exists(manifest_path) else {}
    except Exception as e:  # a missing bucket, no credentials, a manifest that is not JSON
        raise SyncRefused(f"registry root {root} cannot be read: {type(e).__name__}: {e}") from None
    return Base(folder, posixpath.basename(folder), manifest)


# ---------------------------------------------------------------------------- rows of a source


def _rows(changes: pa.Table, source: str, added_at: Dict[str, str]) -> Tuple[pa.Table, pa.Table]:
    """The rows of the entries still present, one per signal: valid ones, and those with a
    malformed value (an entry without any signal is one quarantined row). Columnar but for the
    values' own validation."""
    present = changes.filter(pc.invert(changes["removed"])).combine_chunks()  # list indices are per chunk
    empty = pc.equal(pc.list_value_length(present["signal_types"]), 0)
    signed = present.filter(pc.invert(empty))
    kept = ["entry_id", "updated_at", *RECORD_METADATA]
    rows = signed.select(kept).take(pc.list_parent_indices(signed["signal_types"]))
    types = pc.list_flatten(signed["signal_types"]).combine_chunks()
    values, reasons = normalised_values(types, pc.list_flatten(signed["signal_values"]).combine_chunks())
    lonely = present.filter(empty).select(kept)
    rows = pa.concat_tables([rows, lonely])
    nothing = pa.array([""] * lonely.num_rows, pa.string())
    types, values = pa.concat_arrays([types, nothing]), pa.concat_arrays([values, nothing])
    reasons = pa.concat_arrays([reasons, pa.array(["no_signals"] * lonely.num_rows, pa.string())])
    updated = pc.strftime(pc.cast(rows["updated_at"], pa.timestamp("s", tz="UTC")), "%Y-%m-%dT%H:%M:%SZ")
    first_seen = pa.array(list(added_at.values()), pa.string())
    seen_index = pc.index_in(rows["entry_id"], value_set=pa.array(list(added_at), pa.string()))
    added = pc.if_else(pc.is_null(seen_index), updated, pc.take(first_seen, seen_index))
    columns = {"entry_id": rows["entry_id"], "signal_type": types, "signal_value": values,
               "source": pa.array([source] * rows.num_rows, pa.string()),
               **{name: rows[name] for name in RECORD_METADATA}, "added_at": added, "updated_at": updated}
    table = pa.table(columns).select(SCHEMA.names).cast(SCHEMA)
    malformed = pc.is_valid(reasons)
    quarantined = table.filter(malformed).append_column("reason", reasons.filter(malformed))
    return table.filter(pc.invert(malformed)), quarantined.cast(QUARANTINE_SCHEMA)


def _read_table(path: str, schema: pa.Schema) -> pa.Table:
    if not FileSystems.exists(path):
        return schema.empty_table()
    try:
        return pq.read_table(io.BytesIO(read_bytes(path))).select(schema.names).cast(schema)
    except Exception as e:
        raise SyncRefused(f"{path} of the previous version cannot be read: {type(e).__name__}: {e}") from None


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("entry_id", "ascending"), ("signal_type", "ascending"), ("signal_value", "ascending")])


def merged_source(base: Base, source: str, changes: pa.Table, keep_previous: bool = True) -> Tuple[pa.Table, pa.Table]:
    """The source's rows in the new version: the previous rows of entries that did not change, then
    the rows of every changed entry still present, sorted (an entry keeps the added_at it first had)."""
    tables = []
    for folder_file, schema in ((f"{source}.parquet", SCHEMA), (f"{QUARANTINE}/{source}.parquet", QUARANTINE_SCHEMA)):
        if base.folder and keep_previous:
            tables.append(_read_table(FileSystems.join(base.folder, folder_file), schema))
        else:
            tables.append(schema.empty_table())
    changed = changes["entry_id"]  # one newest record per entry (feed.newest)
    added_at = {}
    kept = []
    for table in tables:
        hit = pc.is_in(table["entry_id"], value_set=changed)
        touched = table.filter(hit)
        added_at.update(zip(touched["entry_id"].to_pylist(), touched["added_at"].to_pylist()))
        kept.append(table.filter(pc.invert(hit)))
    valid, quarantined = _rows(changes, source, added_at)
    # The previous rows keep their order; only the changed ones are sorted (a night's few).
    return pa.concat_tables([kept[0], _sorted(valid)]), pa.concat_tables([kept[1], _sorted(quarantined)])


# ---------------------------------------------------------------------------- writing a version


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _file_facts(relative: str, data: bytes) -> Dict:
    facts = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if relative.endswith(".parquet"):
        facts["rows"] = pq.read_metadata(io.BytesIO(data)).num_rows
    elif relative.endswith(".csv"):
        facts["rows"] = max(0, data.count(b"\n") - 1)
    return facts


def new_version_name(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond:06d}Z"


def write_version(root: str, base: Base, source: str, table: pa.Table, quarantine: pa.Table,
                  source_facts: Dict, now: Optional[datetime] = None) -> str:
    """Write ROOT/VERSION/ from base with this source's tables; returns the version's folder."""
    now = now or datetime.now(timezone.utc)
    version = new_version_name(now)
    if base.version is not None and version <= base.version:
        raise SyncRefused(f"the root's latest version {base.version} sorts after the new one {version}: "
                          "versions must sort as strings in time order")
    folder = FileSystems.join(root, version)
    own = {f"{source}.parquet", f"{QUARANTINE}/{source}.parquet", MANIFEST, SUCCESS_MARKER}
    files = {f"{source}.parquet": parquet_bytes(table), f"{QUARANTINE}/{source}.parquet": parquet_bytes(quarantine)}
    if base.folder:
        for sub in ("", QUARANTINE):
            for path in files_in(FileSystems.join(base.folder, sub) if sub else base.folder):
                relative = posixpath.join(sub, posixpath.basename(path)) if sub else posixpath.basename(path)
                if relative not in own:
                    files[relative] = read_bytes(path)
    facts = {}
    for relative, data in sorted(files.items()):
        write_bytes(FileSystems.join(folder, *relative.split("/")), data)
        facts[relative] = _file_facts(relative, data)
    sources = dict(base.manifest.get("sources", {}))
    sources[source] = source_facts
    manifest = {"version": version, "written_at": now.isoformat(), "previous_version": base.version,
                "sources": sources, "files": facts}
    write_bytes(FileSystems.join(folder, MANIFEST), json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    latest = complete_versions(root)
    if latest and posixpath.basename(latest[-1]) != base.version:
        delete_folder(folder)
        raise SyncRefused(f"another sync wrote version {posixpath.basename(latest[-1])} of {root} meanwhile; "
                          "run this sync again to build on it")
    write_bytes(FileSystems.join(folder, SUCCESS_MARKER), version.encode() + b"\n")
    return folder


def prune(root: str, keep: int) -> List[str]:
    """Delete all but the newest `keep` complete versions, and the folders of syncs that did not
    finish (named as sync names versions, no marker, older than the newest complete version);
    returns the folders deleted."""
    complete = complete_versions(root)
    if not complete:
        return []
    newest = posixpath.basename(complete[-1])
    doomed = complete[:-keep] if keep > 0 else []
    folders = {posixpath.dirname(m.path) for m in FileSystems.match([FileSystems.join(root, "*", "*")])[0].metadata_list}
    for folder in sorted(folders - set(complete)):
        name = posixpath.basename(folder)
        if VERSION_NAME.match(name) and name < newest:
            doomed.append(folder)
    for folder in doomed:
        delete_folder(folder)
    return doomed
