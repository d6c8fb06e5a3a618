"""List the objects to scan, each with a version that changes when its content may have.

Local folders and single files now; object stores (gs://, s3://) come with their own listing.
"""
import os
from typing import Iterator, NamedTuple, Optional, Union

import apache_beam as beam

from transforms.reasons import ScanError


class MediaObject(NamedTuple):
    """One listed object. `version` is the etag/generation on object stores, size+mtime locally."""

    uri: str
    version: str
    size: Optional[int]


def is_remote(uri: str) -> bool:
    return "://" in uri


def local_version(stat: os.stat_result) -> str:
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def list_local(root: str) -> Iterator[Union[MediaObject, ScanError]]:
    """Every file under a local folder (recursively, in a stable order), or the file itself."""
    root = os.path.abspath(root)
    if os.path.isfile(root):
        yield _local_object(root)
        return
    failures = []
    for folder, subfolders, files in os.walk(root, onerror=failures.append):
        subfolders.sort()
        for name in sorted(files):
            yield _local_object(os.path.join(folder, name))
    for error in failures:
        yield ScanError(error.filename or root, None, "list", "unlistable", str(error))


def _local_object(path: str) -> Union[MediaObject, ScanError]:
    try:
        stat = os.stat(path)
    except OSError as e:
        return ScanError(path, None, "list", "unlistable", f"{type(e).__name__}: {e.strerror}")
    return MediaObject(path, local_version(stat), stat.st_size)


class ListMedia(beam.PTransform):
    """URI -> MediaObjects (main output) and ScanErrors (output `errors`)."""

    def __init__(self, media_uri: str):
        super().__init__()
        self._media_uri = media_uri

    def expand(self, pbegin):
        return (
            pbegin
            | "Root" >> beam.Create([self._media_uri])
            | "Walk" >> beam.FlatMap(list_local)
            | "SplitErrors"
            >> beam.Map(
                lambda item: beam.pvalue.TaggedOutput("errors", item)
                if isinstance(item, ScanError)
                else item
            ).with_outputs("errors", main="objects")
        )
