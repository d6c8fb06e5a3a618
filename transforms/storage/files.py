"""Reading and writing the files of an output folder from the commands that run no pipeline
(`report`, `review`, `serve`, `act`, `feedback`): local paths with the standard library, gs:// and s3:// through
Beam's FileSystems, imported only then, so that a command on a local folder starts without
Apache Beam (over a second of imports on its own).
"""
import glob
import io
import os
import posixpath
import secrets
from datetime import datetime
from typing import BinaryIO, Dict, List

from transforms.storage.objects import is_remote


def _beam():
    from apache_beam.io.filesystems import FileSystems  # noqa: PLC0415 -- only for remote folders
    return FileSystems


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_remote(base) else os.path.join(base, *parts)


def matching(folder: str, *pattern: str) -> List[str]:
    """The files under `folder` that a glob pattern (parts such as "run=*", "*.json") matches,
    sorted; the folder's own name is taken as it is, never as a pattern."""
    if is_remote(folder):
        return sorted(m.path for m in _beam().match([join(folder, *pattern)])[0].metadata_list)
    return sorted(path for path in glob.glob(os.path.join(glob.escape(folder), *pattern)) if os.path.isfile(path))


def read(path: str) -> bytes:
    if is_remote(path):
        with _beam().open(path) as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def create(path: str) -> BinaryIO:
    """A new file open for writing (its folder made first where folders exist)."""
    if is_remote(path):
        return _beam().create(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return open(path, "wb")


def stamped_name(now: datetime, suffix: str) -> str:
    """A new file's name for an append-only folder (reviews, suppression lists, the action log):
    its time to the microsecond and a random tail, so that names sort by time and two writers at
    once never pick the same one."""
    return f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(3)}{suffix}"


def parquet_rows(folder: str, *pattern: str) -> List[Dict]:
    """The rows of every Parquet file that `pattern` matches under `folder`, file by file in order."""
    rows = []
    for path in matching(folder, *pattern):
        rows.extend(small_parquet(read(path)))
    return rows


def small_parquet(data: bytes) -> List[Dict]:
    """The rows of a small Parquet file's bytes, read on this thread alone: pq.read_table's
    dataset scanner leaves threads of Arrow's pools behind, which can abort the process as it
    exits ("terminate called without an active exception", apache/arrow#34314), seen once in a
    command that ran no pipeline."""
    import pyarrow.parquet as pq  # noqa: PLC0415 -- for the callers that read Parquet only

    return pq.ParquetFile(io.BytesIO(data)).read(use_threads=False).to_pylist()
