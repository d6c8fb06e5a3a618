"""The listed object: what listing yields and every later stage refers to."""
from typing import NamedTuple, Optional


class MediaObject(NamedTuple):
    """One listed object. `version` is the GCS generation or the S3 VersionId (ETag on unversioned
    buckets) on object stores, size+mtime locally."""

    uri: str
    version: str
    size: Optional[int]


def is_remote(uri: str) -> bool:
    return "://" in uri
