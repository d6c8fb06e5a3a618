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
from typing import Dict, List, Optional

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.registry.feed import RECORD_METADATA
from transforms.registry.loaded import SEEN_COLUMN
from transforms.registry.snapshots import SUCCESS_MARKER, complete_versions
from transforms.storage.objects import is_remote

MANIFEST = "manifest.json"
QUARANTINE = "quarantine"
COLUMNS = ("entry_id", "signal_type", "signal_value", "source") + RECORD_METADATA + ("added_at", "updated_at", SEEN_COLUMN)
VERSION_NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z$")
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])
_COPY_BYTES = 8 << 20
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


# ---------------------------------------------------------------------------- writing a version


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def _copy(source: str, target: str) -> Dict:
    """Copy a file between any filesystems a chunk at a time; its sha256, bytes and rows (a
    Parquet file's from its footer, a CSV file's lines after the header)."""
    digest, size, lines = hashlib.sha256(), 0, 0
    with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as f, \
            FileSystems.create(target, compression_type=CompressionTypes.UNCOMPRESSED) as out:
        while chunk := f.read(_COPY_BYTES):
            digest.update(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
            out.write(chunk)
    facts = {"sha256": digest.hexdigest(), "bytes": size}
    if target.endswith(".parquet"):
        with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            facts["rows"] = pq.read_metadata(f).num_rows
    elif target.endswith(".csv"):
        facts["rows"] = max(0, lines - 1)
    return facts


def new_version_name(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond:06d}Z"


def write_version(root: str, base: Base, source: str, own: Dict[str, str], source_facts: Dict,
                  now: Optional[datetime] = None) -> str:
    """Write ROOT/VERSION/ from base with this source's files (`own`: the path in the version,
    such as `ncmec.parquet`, -> the file to copy there); returns the version's folder."""
    now = now or datetime.now(timezone.utc)
    version = new_version_name(now)
    if base.version is not None and version <= base.version:
        raise SyncRefused(f"the root's latest version {base.version} sorts after the new one {version}: "
                          "versions must sort as strings in time order")
    folder = FileSystems.join(root, version)
    files = dict(own)
    if base.folder:
        for sub in ("", QUARANTINE):
            for path in files_in(FileSystems.join(base.folder, sub) if sub else base.folder):
                relative = posixpath.join(sub, posixpath.basename(path)) if sub else posixpath.basename(path)
                if relative not in files and relative not in (MANIFEST, SUCCESS_MARKER):
                    files[relative] = path
    facts = {relative: _copy(path, FileSystems.join(folder, *relative.split("/")))
             for relative, path in sorted(files.items())}
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
