"""Google Cloud Storage and Amazon S3 (and S3-compatible stores) through their own clients.

Listing through the clients, not Beam's filesystems, gives each object its real version (GCS
generation; S3 VersionId on versioned buckets, else the ETag), its update time and content type.
Reads are pinned to the listed version, ranged to the size cap, retried with exponential backoff
and jitter on throttling and transient failures, and bounded by a per-object deadline.

Endpoints: S3 honours `--s3_endpoint_url` (Beam's option) and the AWS_ENDPOINT_URL variable;
GCS honours STORAGE_EMULATOR_HOST. Credentials come from the standard chains.
"""
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, NamedTuple, Optional

from transforms.storage.objects import MediaObject
from transforms.reasons import MediaError


class Location(NamedTuple):
    scheme: str  # "gs" | "s3"
    bucket: str
    prefix: str


def parse_location(uri: str) -> Location:
    scheme, _, rest = uri.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme not in ("gs", "s3") or not bucket:
        raise ValueError(f"not a gs:// or s3:// URI: {uri}")
    return Location(scheme, bucket, prefix)


@dataclass(frozen=True)
class StoreSettings:
    """How the clients reach the stores and how hard they try."""

    s3_endpoint_url: Optional[str] = None
    s3_region_name: Optional[str] = None
    attempts: int = 5  # tries of one request, first included
    backoff_s: float = 0.2  # first wait; doubles, with jitter
    object_timeout_s: float = 120.0  # all tries of one read together
    list_page_keys: int = 1000  # keys per listing page (the most both stores give)


class Page(NamedTuple):
    """One page of a listing: its objects and sub-prefixes, and the first and last key it covered
    (folder markers and older versions included; a sub-prefix covers its keys), None when empty."""

    objects: List[MediaObject]
    prefixes: List[str]
    first_key: Optional[str]
    last_key: Optional[str]


# After every key that starts with a prefix: U+10FFFF is a noncharacter, which keys do not hold.
_PAST = "\U0010ffff"


def _page(objects: List[MediaObject], keys: List[str], prefixes: List[str]) -> Page:
    covered = sorted(keys[:1] + keys[-1:] + prefixes[:1] + [p + _PAST for p in prefixes[-1:]])
    return Page(objects, prefixes, covered[0] if covered else None, covered[-1] if covered else None)


class StoreError(Exception):
    """A failure of the request itself (missing bucket, access denied); str() is one line."""


_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def read_with_retries(call, settings: StoreSettings, what: str, gone, transient) -> bytes:
    """call() until it returns; a failure for which gone(e) is `gone`, for which transient(e) is
    retried with exponential backoff and jitter within the object deadline, else `unreadable`."""
    deadline = time.monotonic() + settings.object_timeout_s
    for attempt in range(1, settings.attempts + 1):
        try:
            return call()
        except Exception as e:
            if gone(e):
                raise MediaError("gone", "deleted (or replaced) since listing") from None
            if not transient(e):
                raise MediaError("unreadable", f"{type(e).__name__}: {e}") from None
            wait = settings.backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            if attempt == settings.attempts or time.monotonic() + wait > deadline:
                raise MediaError(
                    "unreadable", f"{what}: gave up after {attempt} attempt(s): {type(e).__name__}: {e}"
                ) from None
            time.sleep(wait)


# ---------------------------------------------------------------------------------------- GCS


class GcsStore:
    def __init__(self, settings: StoreSettings):
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import storage  # imported here: workers that scan S3 need not load it

        self._settings = settings
        try:
            self._client = storage.Client()
        except DefaultCredentialsError:
            raise StoreError("no Google credentials found (set GOOGLE_APPLICATION_CREDENTIALS, or run "
                             "`gcloud auth application-default login`)") from None

    @staticmethod
    def _transient(e: Exception) -> bool:
        import requests
        from google.api_core import exceptions as api

        return isinstance(
            e,
            (api.TooManyRequests, api.InternalServerError, api.BadGateway, api.ServiceUnavailable,
             api.GatewayTimeout, requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError),
        )

    def check_bucket(self, bucket: str) -> None:
        from google.api_core import exceptions as api

        try:
            self._client.get_bucket(bucket, retry=None, timeout=30)
        except api.NotFound:
            raise StoreError(f"bucket gs://{bucket} does not exist") from None
        except (api.Forbidden, api.Unauthorized) as e:
            raise StoreError(f"no access to gs://{bucket} (check credentials): {e.message}") from None

    def pages(self, bucket: str, prefix: str, after: Optional[str] = None, delimiter: Optional[str] = None) -> Iterator[Page]:
        """Every object below prefix whose name sorts after `after`, a page at a time (with a
        delimiter: the objects directly under prefix, and its sub-prefixes)."""
        blobs = self._client.list_blobs(bucket, prefix=prefix or None, start_offset=after, delimiter=delimiter,
                                        page_size=self._settings.list_page_keys)
        for page in blobs.pages:
            # start_offset is inclusive (and a server may ignore it): names up to `after` are dropped here
            names = [b for b in page if after is None or b.name > after]
            prefixes = sorted(p for p in page.prefixes if after is None or p > after)
            yield _page([MediaObject(f"gs://{bucket}/{b.name}", str(b.generation), b.size)
                         for b in names if not b.name.endswith("/")], [b.name for b in names], prefixes)

    def read(self, obj: MediaObject, max_bytes: int) -> bytes:
        from google.api_core import exceptions as api

        location = parse_location(obj.uri)
        blob = self._client.bucket(location.bucket).blob(location.prefix, generation=int(obj.version))
        return read_with_retries(
            lambda: blob.download_as_bytes(end=max_bytes, retry=None, timeout=30, checksum=None),
            self._settings, obj.uri, gone=lambda e: isinstance(e, api.NotFound), transient=self._transient,
        )


    def _act(self, obj: MediaObject, call) -> None:
        """call() with retries; MediaError `gone` when the object is no longer the listed
        generation (checked first, and again by the request's own precondition where the server
        keeps it: some emulators do not)."""
        from google.api_core import exceptions as api

        location = parse_location(obj.uri)
        gone = lambda e: isinstance(e, (api.NotFound, api.PreconditionFailed))  # noqa: E731
        live = read_with_retries(lambda: self._client.bucket(location.bucket).get_blob(location.prefix, retry=None, timeout=30),
                                 self._settings, obj.uri, transient=self._transient, gone=gone)
        if live is None or str(live.generation) != obj.version:
            raise MediaError("gone", "deleted (or replaced) since listing")
        read_with_retries(call, self._settings, obj.uri, transient=self._transient, gone=gone)

    def tag(self, obj: MediaObject, tags: Dict[str, str]) -> None:
        """Custom metadata on the listed generation (merged with what it has); MediaError `gone`
        when the object is no longer that generation."""
        location = parse_location(obj.uri)
        blob = self._client.bucket(location.bucket).blob(location.prefix)
        blob.metadata = dict(tags)
        self._act(obj, lambda: blob.patch(if_generation_match=int(obj.version), retry=None, timeout=30))

    def copy(self, obj: MediaObject, destination: str, remove: bool = False) -> None:
        """The listed generation copied to `destination` (a gs:// URI), and deleted after when
        `remove`, only while it is still the live generation."""
        source, target = parse_location(obj.uri), parse_location(destination)
        bucket = self._client.bucket(source.bucket)
        blob = bucket.blob(source.prefix)
        self._act(obj, lambda: bucket.copy_blob(blob, self._client.bucket(target.bucket), target.prefix,
                                                source_generation=int(obj.version), retry=None, timeout=30))
        if remove:
            self._act(obj, lambda: blob.delete(if_generation_match=int(obj.version), retry=None, timeout=30))

# ---------------------------------------------------------------------------------------- S3


# An S3 ETag: an MD5 in hex, or for multipart uploads the MD5 of the parts' MD5s and their count.
# Listing versions an object by its ETag where it has no VersionId of its own (see S3Store.list).
_ETAG = re.compile(r"[0-9a-f]{32}(-[0-9]+)?")


class S3Store:
    def __init__(self, settings: StoreSettings):
        import boto3
        from botocore.config import Config

        self._settings = settings
        config = Config(connect_timeout=10, read_timeout=30, max_pool_connections=64)
        # Reads retry in read_with_retries (to share its deadline); listings and bucket metadata in botocore.
        self._client, self._list_client = (
            boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region_name,
                         config=config.merge(Config(retries={"max_attempts": attempts, "mode": "standard"})))
            for attempts in (1, settings.attempts)
        )
        self._versioned = {}
        self._lock = threading.Lock()

    @staticmethod
    def _status(e: Exception) -> Optional[int]:
        response = getattr(e, "response", None) or {}
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode")

    def _transient(self, e: Exception) -> bool:
        from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError, ResponseStreamingError

        if isinstance(e, (BotoConnectionError, HTTPClientError, ResponseStreamingError, ConnectionError, TimeoutError)):
            return True
        code = getattr(e, "response", {}).get("Error", {}).get("Code") if hasattr(e, "response") else None
        return self._status(e) in _TRANSIENT_STATUS or code in ("SlowDown", "Throttling", "RequestTimeout")

    def check_bucket(self, bucket: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._list_client.head_bucket(Bucket=bucket)
        except ClientError as e:
            status = self._status(e)
            if status == 404:
                raise StoreError(f"bucket s3://{bucket} does not exist") from None
            if status in (401, 403):
                raise StoreError(f"no access to s3://{bucket} (check credentials)") from None
            raise StoreError(f"s3://{bucket}: {e}") from None
        except BotoCoreError as e:  # no credentials, unreachable endpoint
            raise StoreError(f"s3://{bucket}: {e}") from None

    def _is_versioned(self, bucket: str) -> bool:
        with self._lock:
            if bucket not in self._versioned:
                status = self._list_client.get_bucket_versioning(Bucket=bucket).get("Status")
                self._versioned[bucket] = status in ("Enabled", "Suspended")
            return self._versioned[bucket]

    @staticmethod
    def _objects(bucket: str, items: List[dict], versioned: bool) -> List[MediaObject]:
        """The latest version of each listed key (folder markers left out)."""
        objects = []
        for item in items:
            if (versioned and not item.get("IsLatest")) or item["Key"].endswith("/"):
                continue
            version = item["VersionId"] if versioned and item.get("VersionId") not in (None, "null") else None
            objects.append(MediaObject(f"s3://{bucket}/{item['Key']}", version or item["ETag"].strip('"'), item["Size"]))
        return objects

    def _raw_pages(self, bucket: str, prefix: str, delimiter: Optional[str] = None, after: Optional[str] = None):
        """(page, its objects' items) of a listing, keys after `after` only."""
        versioned = self._is_versioned(bucket)
        kwargs = {"Bucket": bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": self._settings.list_page_keys}}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        if after and not versioned:
            kwargs["StartAfter"] = after
        elif after:
            # Servers differ on a KeyMarker alone: S3 starts after that key, moto (and some
            # S3-compatible stores) drop the first version at or past it, of whatever key. So the
            # marker is the first live key after `after`, whose own version is asked for apart.
            first = self._list_client.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=after, MaxKeys=1)
            if not first.get("Contents"):
                return
            key = first["Contents"][0]["Key"]
            page = self._list_client.list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=1)
            yield page, [v for v in page.get("Versions", ()) if v["Key"] == key]
            kwargs["KeyMarker"] = after = key
        operation = "list_object_versions" if versioned else "list_objects_v2"
        for page in self._list_client.get_paginator(operation).paginate(**kwargs):
            yield page, [i for i in page.get("Versions" if versioned else "Contents", ()) if not after or i["Key"] > after]

    def pages(self, bucket: str, prefix: str, after: Optional[str] = None, delimiter: Optional[str] = None) -> Iterator[Page]:
        """Every object below prefix whose key sorts after `after`, a page at a time (with a
        delimiter: the objects directly under prefix, and its sub-prefixes)."""
        versioned = self._is_versioned(bucket)
        for page, items in self._raw_pages(bucket, prefix, delimiter, after):
            prefixes = sorted(p["Prefix"] for p in page.get("CommonPrefixes", ()) if not after or p["Prefix"] > after)
            yield _page(self._objects(bucket, items, versioned), [i["Key"] for i in items], prefixes)

    def read(self, obj: MediaObject, max_bytes: int) -> bytes:
        location = parse_location(obj.uri)
        request = {"Bucket": location.bucket, "Key": location.prefix, "Range": f"bytes=0-{max_bytes}"}
        if _ETAG.fullmatch(obj.version):  # unversioned buckets, and objects from before versioning
            request["IfMatch"] = f'"{obj.version}"'  # read only the listed content
        else:
            request["VersionId"] = obj.version

        def get() -> bytes:
            try:
                return self._client.get_object(**request)["Body"].read()
            except Exception as e:
                if self._status(e) == 416:  # a range beyond an empty object
                    return b""
                raise

        return read_with_retries(
            get, self._settings, obj.uri, gone=lambda e: self._status(e) in (404, 412), transient=self._transient
        )


    def _act(self, obj: MediaObject, call):
        """call()'s answer, with retries; MediaError `gone` when the version is no longer there."""
        return read_with_retries(call, self._settings, obj.uri, transient=self._transient,
                                 gone=lambda e: self._status(e) in (404, 412))

    def _pinned(self, obj: MediaObject) -> dict:
        """The request fields that name the listed version: its VersionId, or (an unversioned
        object) nothing, after a check that its ETag is still the listed one."""
        location = parse_location(obj.uri)
        if not _ETAG.fullmatch(obj.version):
            return {"VersionId": obj.version}
        self._act(obj, lambda: self._client.head_object(Bucket=location.bucket, Key=location.prefix,
                                                        IfMatch=f'"{obj.version}"'))
        return {}

    def tag(self, obj: MediaObject, tags: Dict[str, str]) -> None:
        """Object tags on the listed version (merged with its own; S3 keeps 10 at most)."""
        location = parse_location(obj.uri)
        where = {"Bucket": location.bucket, "Key": location.prefix, **self._pinned(obj)}
        had = self._act(obj, lambda: self._client.get_object_tagging(**where)["TagSet"])
        merged = {t["Key"]: t["Value"] for t in had}
        merged.update(tags)
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(merged.items())]
        self._act(obj, lambda: self._client.put_object_tagging(**where, Tagging={"TagSet": tag_set}))

    def copy(self, obj: MediaObject, destination: str, remove: bool = False) -> None:
        """The listed version copied to `destination` (an s3:// URI), and deleted after when
        `remove` (that version, or the key while its ETag is still the listed one)."""
        source, target = parse_location(obj.uri), parse_location(destination)
        pinned = self._pinned(obj)
        copy_source = {"Bucket": source.bucket, "Key": source.prefix, **pinned}
        condition = {} if pinned else {"CopySourceIfMatch": f'"{obj.version}"'}
        self._act(obj, lambda: self._client.copy_object(Bucket=target.bucket, Key=target.prefix,
                                                        CopySource=copy_source, **condition))
        if remove:
            self._pinned(obj)
            self._act(obj, lambda: self._client.delete_object(Bucket=source.bucket, Key=source.prefix, **pinned))

class Stores:
    """One client per store kind, opened on first use and shared by a DoFn's threads."""

    def __init__(self, settings: StoreSettings):
        self._settings = settings
        self._open = {}
        self._lock = threading.Lock()

    def get(self, scheme: str):
        with self._lock:
            if scheme not in self._open:
                self._open[scheme] = (GcsStore if scheme == "gs" else S3Store)(self._settings)
            return self._open[scheme]

    def read(self, obj: MediaObject, max_bytes: int) -> bytes:
        return self.get(parse_location(obj.uri).scheme).read(obj, max_bytes)
