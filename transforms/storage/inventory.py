"""Objects from a bucket inventory instead of a listing: S3 Inventory and GCS Storage Insights.

For buckets of billions of objects a daily inventory is cheaper and faster than listing.
`--inventory` names the report's manifest:
- S3 Inventory `manifest.json` (`fileFormat` CSV or Parquet, `fileSchema`, `files[].key` in the
  destination bucket); CSV keys are URL-encoded, as S3 writes them.
- GCS Storage Insights manifest (`report_shards_file_names`, shards beside the manifest, CSV with a
  header or Parquet; fields `bucket`, `name`, `generation`, `size`, `updated`, `contentType`).
The manifest is read on the launcher (a broken one stops the run with one line); its data files
are spread across workers and each is read there. Objects get the versions listing gives them:
GCS generation; S3 VersionId on versioned buckets, else the ETag. Old versions and delete markers
are skipped; `--media`, when given too, keeps only objects under it.
"""
import csv
import io
import json
import posixpath
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple, Union
from urllib.parse import unquote

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.storage.objects import MediaObject
from transforms.reasons import ScanError, stable_detail


class InventoryError(Exception):
    """The manifest cannot be used; str() is a one-line reason."""


@dataclass(frozen=True)
class InventoryFile:
    kind: str  # "s3" | "gcs"
    uri: str
    file_format: str  # "csv" | "parquet"
    columns: Tuple[str, ...] = ()  # S3 CSV: the fileSchema (the files have no header)


def _key(name: str) -> str:
    """A column name in one spelling: 'VersionId', 'version_id' -> 'versionid'."""
    return name.strip().lower().replace("_", "")


def read_manifest(uri: str) -> Tuple[InventoryFile, ...]:
    try:
        with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            manifest = json.loads(f.read())
    except Exception as e:
        raise InventoryError(f"inventory manifest {uri} cannot be read: {type(e).__name__}: {e}") from None
    if "fileSchema" in manifest and "files" in manifest:
        file_format = str(manifest.get("fileFormat", "")).lower()
        if file_format not in ("csv", "parquet"):
            raise InventoryError(f"inventory {uri}: S3 Inventory format {file_format!r} is not supported (CSV, Parquet)")
        bucket = str(manifest.get("destinationBucket", "")).rsplit(":", 1)[-1] or uri.split("/")[2]
        columns = tuple(_key(c) for c in manifest["fileSchema"].split(",")) if file_format == "csv" else ()
        return tuple(InventoryFile("s3", f"s3://{bucket}/{f['key']}", file_format, columns) for f in manifest["files"])
    if "report_shards_file_names" in manifest:
        folder = posixpath.dirname(uri)
        return tuple(
            InventoryFile("gcs", f"{folder}/{name}", "parquet" if name.endswith(".parquet") else "csv")
            for name in manifest["report_shards_file_names"]
        )
    raise InventoryError(f"inventory {uri} is neither an S3 Inventory nor a Storage Insights manifest")


def _rows(inventory: InventoryFile, data: bytes) -> Iterator[Tuple[int, Dict[str, str]]]:
    if inventory.file_format == "parquet":
        table = pq.read_table(io.BytesIO(data))
        names = [_key(n) for n in table.column_names]
        for number, row in enumerate(table.to_pylist(), start=1):
            yield number, dict(zip(names, row.values()))
        return
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    columns = inventory.columns or tuple(_key(c) for c in next(reader))
    for values in reader:
        if values:
            yield reader.line_num, dict(zip(columns, values))


def _true(value) -> bool:
    return value is True or str(value).lower() == "true"


def inventory_object(kind: str, row: Dict, url_encoded_keys: bool = False) -> Optional[MediaObject]:
    """The object a row describes, or None for old versions, delete markers and folders. S3 writes
    its CSV inventories with URL-encoded keys, its Parquet ones without."""
    if kind == "s3":
        if ("islatest" in row and not _true(row["islatest"])) or _true(row.get("isdeletemarker")):
            return None
        key = unquote(row["key"]) if url_encoded_keys else row["key"]
        version = row.get("versionid")
        version = version if version not in (None, "", "null") else str(row["etag"]).strip('"')
        uri = f"s3://{row['bucket']}/{key}"
    else:
        uri, version = f"gs://{row['bucket']}/{row['name']}", str(row["generation"])
    if uri.endswith("/"):
        return None
    size = row.get("size")
    return MediaObject(uri, version, int(size) if size not in (None, "") else None)


class ReadInventoryFile(beam.DoFn):
    """InventoryFile -> its MediaObjects under `prefix`; an unreadable row or file is an error row."""

    def __init__(self, prefix: str = ""):
        self._prefix = prefix

    def process(self, inventory: InventoryFile) -> Iterator[Union[MediaObject, ScanError]]:
        try:
            with FileSystems.open(inventory.uri) as f:  # compression from the name: .csv.gz inflates
                data = f.read()
            for number, row in _rows(inventory, data):
                try:
                    obj = inventory_object(inventory.kind, row, inventory.file_format == "csv")
                except (KeyError, ValueError, TypeError) as e:
                    yield ScanError(f"{inventory.uri}#{number}", None, "list", "unlistable",
                                    f"inventory row {number}: {type(e).__name__}: {e}")
                    continue
                if obj is not None and obj.uri.startswith(self._prefix):
                    yield obj
        except Exception as e:
            yield ScanError(inventory.uri, None, "list", "prefix_unlistable",
                            stable_detail(f"inventory file: {type(e).__name__}: {e}"))
