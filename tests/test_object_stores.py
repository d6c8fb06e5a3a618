"""Scans through s3:// and gs:// against real local servers give what the local scan gives."""
import glob
import os

import pyarrow.parquet as pq
import pytest

from pipelines import scan
from tests.object_servers import gcs_client, gcs_server, s3_client, s3_server, upload_folder
from transforms.object_stores import StoreSettings, Stores
from transforms.objects import MediaObject

BUCKET = "media"
PREFIX = "uploads"


@pytest.fixture(scope="module")
def s3(corpus):
    with s3_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        upload_folder(corpus["media"], lambda key, data: client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}", Body=data))
        yield endpoint


@pytest.fixture(scope="module")
def gcs(corpus):
    with gcs_server() as endpoint:
        bucket = gcs_client().create_bucket(BUCKET)
        upload_folder(corpus["media"], lambda key, data: bucket.blob(f"{PREFIX}/{key}").upload_from_string(data))
        yield endpoint


def outcome(media_root, registry, output, *extra):
    """(matches, errors) of a scan, with URIs made relative to the scanned root."""
    argv = [f"--media={media_root}", f"--registry={registry}", f"--output={output}", *extra]
    assert scan.main(argv) == 0
    (run_dir,) = glob.glob(os.path.join(output, "run=*"))
    rel = lambda uri: uri[len(media_root.rstrip("/")) + 1 :]
    matches = {
        (rel(m["uri"]), m["entry_id"], m["signal_type"], m["distance"])
        for m in pq.ParquetDataset(os.path.join(run_dir, "matches")).read().to_pylist()
    }
    errors = {(rel(e["uri"]), e["stage"], e["reason"]) for e in pq.ParquetDataset(os.path.join(run_dir, "errors")).read().to_pylist()}
    return matches, errors


@pytest.fixture(scope="module")
def local_outcome(corpus, tmp_path_factory):
    return outcome(corpus["media"], corpus["registry"], str(tmp_path_factory.mktemp("local")))


def test_s3_scan_equals_the_local_scan(corpus, s3, local_outcome, tmp_path):
    remote = outcome(f"s3://{BUCKET}/{PREFIX}", corpus["registry"], str(tmp_path), f"--s3_endpoint_url={s3}")
    assert remote == local_outcome and local_outcome[0] and local_outcome[1]


def test_gcs_scan_equals_the_local_scan(corpus, gcs, local_outcome, tmp_path):
    remote = outcome(f"gs://{BUCKET}/{PREFIX}", corpus["registry"], str(tmp_path), "--list_split_depth=2")
    assert remote == local_outcome


def test_listings_carry_real_versions(s3, gcs):
    client = s3_client(s3)
    client.create_bucket(Bucket="versioned")
    client.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket="versioned", Key="a.jpg", Body=b"old")
    latest = client.put_object(Bucket="versioned", Key="a.jpg", Body=b"new")["VersionId"]
    stores = Stores(StoreSettings(s3_endpoint_url=s3))
    (obj,), _ = stores.get("s3").list("versioned", "", None)
    assert obj.version == latest and obj.size == 3 and obj.updated
    assert stores.read(obj, 100) == b"new"
    etag = client.head_object(Bucket=BUCKET, Key=f"{PREFIX}/unrelated/301.jpg")["ETag"].strip('"')
    objects, _ = stores.get("s3").list(BUCKET, f"{PREFIX}/unrelated/301", None)
    assert [o.version for o in objects] == [etag]
    blob = gcs_client().bucket(BUCKET).get_blob(f"{PREFIX}/unrelated/301.jpg")
    objects, _ = stores.get("gs").list(BUCKET, f"{PREFIX}/unrelated/301", None)
    assert [(o.version, o.size) for o in objects] == [(str(blob.generation), blob.size)]


def test_an_object_replaced_or_deleted_after_listing_is_gone(s3, gcs):
    stores = Stores(StoreSettings(s3_endpoint_url=s3))
    client = s3_client(s3)
    client.put_object(Bucket=BUCKET, Key="tmp/x.jpg", Body=b"first")
    (obj,), _ = stores.get("s3").list(BUCKET, "tmp/", None)
    client.put_object(Bucket=BUCKET, Key="tmp/x.jpg", Body=b"second")
    with pytest.raises(Exception, match="gone"):
        stores.read(obj, 100)
    bucket = gcs_client().bucket(BUCKET)
    bucket.blob("tmp/y.jpg").upload_from_string(b"first")
    (obj,), _ = stores.get("gs").list(BUCKET, "tmp/", None)
    bucket.blob("tmp/y.jpg").delete()
    with pytest.raises(Exception, match="gone"):
        stores.read(obj, 100)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_missing_bucket_stops_the_run_with_one_line(scheme, s3, gcs, tmp_path, capsys, corpus):
    argv = [f"--media={scheme}://no-such-bucket/x", f"--registry={corpus['registry']}", f"--output={tmp_path}",
            f"--s3_endpoint_url={s3}"]
    assert scan.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "no-such-bucket does not exist" in err and "\n" not in err
