"""Reading and writing the files of an output folder from the commands that run no pipeline
(`report`, `review`, `feedback`): local paths with the standard library, gs:// and s3:// through
Beam's FileSystems, imported only then, so that a command on a local folder starts without
Apache Beam (over a second of imports on its own).
"""
import glob
import os
import posixpath
from typing import BinaryIO, List

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
