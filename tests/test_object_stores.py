"""Scans through s3:// and gs:// against real local servers give what the local scan gives."""
import glob
import json
import os

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from pipelines import scan
from tests.conftest import BAD_INPUTS
from tests.fault_proxy import FaultProxy
from tests.object_servers import gcs_client, gcs_server, listed, s3_client, s3_server, upload_folder
from transforms.storage.stores import StoreSettings, Stores

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
    (obj,) = listed(stores.get("s3"), "versioned", "")
    assert obj.version == latest and obj.size == 3
    assert stores.read(obj, 100) == b"new"
    etag = client.head_object(Bucket=BUCKET, Key=f"{PREFIX}/unrelated/301.jpg")["ETag"].strip('"')
    objects = listed(stores.get("s3"), BUCKET, f"{PREFIX}/unrelated/301")
    assert [o.version for o in objects] == [etag]
    blob = gcs_client().bucket(BUCKET).get_blob(f"{PREFIX}/unrelated/301.jpg")
    objects = listed(stores.get("gs"), BUCKET, f"{PREFIX}/unrelated/301")
    assert [(o.version, o.size) for o in objects] == [(str(blob.generation), blob.size)]


def test_an_object_replaced_or_deleted_after_listing_is_gone(s3, gcs):
    stores = Stores(StoreSettings(s3_endpoint_url=s3))
    client = s3_client(s3)
    client.put_object(Bucket=BUCKET, Key="tmp/x.jpg", Body=b"first")
    (obj,) = listed(stores.get("s3"), BUCKET, "tmp/")
    client.put_object(Bucket=BUCKET, Key="tmp/x.jpg", Body=b"second")
    with pytest.raises(Exception, match="gone"):
        stores.read(obj, 100)
    bucket = gcs_client().bucket(BUCKET)
    bucket.blob("tmp/y.jpg").upload_from_string(b"first")
    (obj,) = listed(stores.get("gs"), BUCKET, "tmp/")
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


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_output_bucket_that_does_not_exist_stops_the_run_before_hashing(scheme, s3, gcs, corpus, capsys):
    argv = [f"--media={corpus['media']}/unrelated", f"--registry={corpus['registry']}",
            f"--output={scheme}://no-such-reports/nightly", f"--s3_endpoint_url={s3}"]
    assert scan.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--output" in err and "no-such-reports does not exist" in err and "\n" not in err


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_throttling_and_dropped_connections_lose_and_duplicate_nothing(scheme, s3, gcs, corpus, local_outcome,
                                                                        tmp_path, monkeypatch):
    upstream = s3 if scheme == "s3" else gcs
    with FaultProxy(upstream, faulty_share=0.5, fail_first=2, drop_first=1, always_fail=("unrelated/303",)) as proxy:
        if scheme == "gs":
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
        media = f"{scheme}://{BUCKET}/{PREFIX}"
        output = str(tmp_path)
        matches, errors = outcome(media, corpus["registry"], output, f"--s3_endpoint_url={proxy.url}",
                                  "--read_attempts=4", "--read_concurrency=8")
    assert proxy.counts["failed"] > 10 and proxy.counts["dropped"] > 5  # the faults did happen
    assert matches == local_outcome[0]
    assert errors == local_outcome[1] | {("unrelated/303.jpg", "read", "unreadable")}
    with open(glob.glob(os.path.join(output, "run=*", "summary.json"))[0]) as f:
        summary = json.load(f)
    assert summary["listed"] == summary["hashed"] + summary["failed"] == len(corpus["expected"]) + len(BAD_INPUTS)
    stored = pq.ParquetDataset(glob.glob(os.path.join(output, "hashes", "run=*", "objects"))[0]).read().to_pylist()
    assert len({row["uri"] for row in stored}) == len(stored) == summary["hashed"]  # no object twice


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_registry_and_reports_can_live_in_the_store_too(scheme, s3, gcs, corpus, local_outcome, tmp_path):
    version = "2026-11-20T0300Z"
    with open(os.path.join(corpus["registry"], version, "hashes.csv"), "rb") as f:
        registry_csv = f.read()
    if scheme == "s3":
        client = s3_client(s3)
        client.create_bucket(Bucket="registry")
        client.create_bucket(Bucket="reports")
        client.put_object(Bucket="registry", Key=f"tid/{version}/hashes.csv", Body=registry_csv)
        client.put_object(Bucket="registry", Key=f"tid/{version}/_SUCCESS", Body=b"")
        keys = lambda: [o["Key"] for o in client.list_objects_v2(Bucket="reports").get("Contents", [])]
        read = lambda key: client.get_object(Bucket="reports", Key=key)["Body"].read()
    else:
        storage = gcs_client()
        registry_bucket = storage.create_bucket("registry")
        reports = storage.create_bucket("reports")
        registry_bucket.blob(f"tid/{version}/hashes.csv").upload_from_string(registry_csv)
        registry_bucket.blob(f"tid/{version}/_SUCCESS").upload_from_string(b"")
        keys = lambda: [b.name for b in storage.list_blobs("reports")]
        read = lambda key: reports.blob(key).download_as_bytes()
    argv = [f"--media={corpus['media']}/unrelated", f"--registry={scheme}://registry/tid",
            f"--output={scheme}://reports/nightly", f"--s3_endpoint_url={s3}"]
    assert scan.main(argv) == 0
    names = keys()
    (summary_key,) = [k for k in names if k.endswith("summary.json")]
    summary = json.loads(read(summary_key))
    assert summary["registry_version"] == version and summary["hashed"] == 6
    assert any("/matches/" in k for k in names) and any(k.startswith("nightly/hashes/run=") for k in names)
    # three more nights, each compacting: the store in the bucket keeps the runs since the last
    # compaction that a later night committed after
    runs = lambda: sorted({k.split("/")[2] for k in keys() if k.startswith("nightly/hashes/run=")})
    first = runs()
    for _ in range(3):
        assert scan.main(argv + ["--compact_share=0"]) == 0
    assert len(runs()) == 3 and first[0] not in runs()
    (newest,) = [k for k in keys() if k.startswith(f"nightly/hashes/{runs()[-1]}/_COMMITTED")]
    assert json.loads(read(newest))["compacted"] is True


def test_wrong_credentials_stop_the_run_with_one_line(corpus, tmp_path, capsys, monkeypatch):
    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # this server checks keys
    with s3_server() as endpoint:
        argv = [f"--media=s3://{BUCKET}/{PREFIX}", f"--registry={corpus['registry']}", f"--output={tmp_path}",
                f"--s3_endpoint_url={endpoint}"]
        assert scan.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "no access to s3://media (check credentials)" in err and "\n" not in err
    assert not os.listdir(tmp_path)


def s3_inventory(endpoint, file_format: str) -> str:
    """An S3 Inventory of the media bucket, as S3 writes one, in an inventory bucket; its manifest URI."""
    import gzip
    from urllib.parse import quote

    import pyarrow as pa

    client = s3_client(endpoint)
    if "inventory" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="inventory")
    contents = client.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["Contents"]
    base = f"media/daily/2026-11-25T01-00Z-{file_format}"
    if file_format == "CSV":
        lines = [f'"{BUCKET}","{quote(o["Key"])}","{o["Size"]}","{o["LastModified"].isoformat()}","{o["ETag"].strip(chr(34))}"'
                 for o in contents]
        key, body, schema = f"{base}/data/part-0.csv.gz", gzip.compress("\n".join(lines).encode()), "Bucket, Key, Size, LastModifiedDate, ETag"
    else:
        table = pa.table({"bucket": [BUCKET] * len(contents), "key": [o["Key"] for o in contents],
                          "size": [o["Size"] for o in contents], "e_tag": [o["ETag"].strip('"') for o in contents],
                          "is_latest": [True] * len(contents)})
        out = __import__("io").BytesIO()
        pq.write_table(table, out)
        key, body, schema = f"{base}/data/part-0.parquet", out.getvalue(), "message s3.inventory { ... }"
    client.put_object(Bucket="inventory", Key=key, Body=body)
    manifest = {"sourceBucket": BUCKET, "destinationBucket": "arn:aws:s3:::inventory", "fileFormat": file_format,
                "fileSchema": schema, "files": [{"key": key, "size": len(body)}]}
    client.put_object(Bucket="inventory", Key=f"{base}/manifest.json", Body=json.dumps(manifest).encode())
    return f"s3://inventory/{base}/manifest.json"


def gcs_inventory() -> str:
    """A Storage Insights inventory report of the media bucket (CSV shards with a header)."""
    storage = gcs_client()
    bucket = storage.bucket("insights") if storage.lookup_bucket("insights") else storage.create_bucket("insights")
    blobs = list(storage.list_blobs(BUCKET, prefix=PREFIX))
    shards = []
    for i, part in enumerate((blobs[::2], blobs[1::2])):
        rows = ["bucket,name,generation,size,updated,contentType"] + [
            f"{BUCKET},{b.name},{b.generation},{b.size},{b.updated.isoformat()},{b.content_type}" for b in part
        ]
        name = f"report_shard_{i}.csv"
        bucket.blob(f"reports/2026-11-25/{name}").upload_from_string("\n".join(rows))
        shards.append(name)
    manifest = {"records_processed": len(blobs), "shard_count": 2, "report_shards_file_names": shards}
    bucket.blob("reports/2026-11-25/manifest.json").upload_from_string(json.dumps(manifest))
    return "gs://insights/reports/2026-11-25/manifest.json"


@pytest.mark.parametrize("source", ["s3-csv", "s3-parquet", "gcs"])
def test_an_inventory_replaces_the_listing(source, s3, gcs, corpus, local_outcome, tmp_path):
    manifest = gcs_inventory() if source == "gcs" else s3_inventory(s3, source.split("-")[1].upper())
    scheme = "gs" if source == "gcs" else "s3"
    media = f"{scheme}://{BUCKET}/{PREFIX}"
    found = outcome(media, corpus["registry"], str(tmp_path), f"--inventory={manifest}", f"--s3_endpoint_url={s3}")
    assert found == local_outcome
    # the objects carry the versions a listing gives them
    found = listed(Stores(StoreSettings(s3_endpoint_url=s3)).get(scheme), BUCKET, PREFIX)
    stored = pq.ParquetDataset(os.path.join(tmp_path, "hashes")).read().to_pylist()
    versions = {r["uri"]: r["object_version"] for r in stored}
    assert versions and all(versions[o.uri] == o.version for o in found if o.uri in versions)


def test_a_broken_inventory_manifest_stops_the_run(s3, corpus, tmp_path, capsys):
    s3_client(s3).put_object(Bucket=BUCKET, Key="not-a-manifest.json", Body=b'{"hello": 1}')
    argv = [f"--inventory=s3://{BUCKET}/not-a-manifest.json", f"--registry={corpus['registry']}",
            f"--output={tmp_path}", f"--s3_endpoint_url={s3}"]
    assert scan.main(argv) == 2
    assert "neither an S3 Inventory nor a Storage Insights manifest" in capsys.readouterr().err


def test_listing_splits_at_the_depth_asked(s3):
    from transforms.storage.listing import KeyRange, walk
    from transforms.storage.stores import Location

    store = Stores(StoreSettings(s3_endpoint_url=s3)).get("s3")
    at = lambda depth: sorted(i.prefix if isinstance(i, KeyRange) else i.uri
                              for i in walk(store, Location("s3", BUCKET, f"{PREFIX}/"), depth, split_pages=10))
    assert at(0) == [f"{PREFIX}/"]
    assert at(1) == [f"{PREFIX}/{d}/" for d in ("bad", "copies", "exact", "unrelated", "video")]
    assert f"{PREFIX}/copies/E-11/" in at(2) and f"{PREFIX}/bad/" not in at(2)
    assert f"s3://{BUCKET}/{PREFIX}/bad/empty.jpg" in at(2)  # objects above the split are yielded themselves


def test_objects_from_before_versioning_are_read_by_their_etag(s3):
    client = s3_client(s3)
    client.create_bucket(Bucket="turned-versioned")
    client.put_object(Bucket="turned-versioned", Key="old.jpg", Body=b"before")  # VersionId "null"
    client.put_bucket_versioning(Bucket="turned-versioned", VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket="turned-versioned", Key="new.jpg", Body=b"after")
    stores = Stores(StoreSettings(s3_endpoint_url=s3))
    objects = listed(stores.get("s3"), "turned-versioned", "")
    by_key = {o.uri.rsplit("/", 1)[1]: o for o in objects}
    assert by_key["old.jpg"].version == client.head_object(Bucket="turned-versioned", Key="old.jpg")["ETag"].strip('"')
    assert stores.read(by_key["old.jpg"], 100) == b"before"
    assert stores.read(by_key["new.jpg"], 100) == b"after"


def test_a_failure_in_the_top_level_split_is_an_error_row_not_the_end_of_the_job(s3):
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.storage.listing import Listing, ListMedia

    settings = StoreSettings(s3_endpoint_url=s3, attempts=1)
    with TestPipeline() as p:
        objects, errors, unlistable = p | ListMedia(Listing("s3://bucket-gone-since-the-check/media", settings))
        assert_that(objects, equal_to([]), label="objects")
        assert_that(errors, equal_to([]), label="errors")
        assert_that(unlistable | beam.Map(lambda e: (e.uri, e.stage, e.reason)),
                    equal_to([("s3://bucket-gone-since-the-check/media", "list", "prefix_unlistable")]),
                    label="unlistable")


def test_a_prefix_that_cannot_be_listed_is_one_error_row_and_not_counted_as_an_object(s3, corpus, tmp_path):
    with FaultProxy(s3, fail_listings=(f"prefix={PREFIX}/unrelated/",)) as proxy:
        media = f"s3://{BUCKET}/{PREFIX}"
        output = str(tmp_path)
        assert scan.main([f"--media={media}", f"--registry={corpus['registry']}", f"--output={output}",
                          f"--s3_endpoint_url={proxy.url}", "--read_attempts=2", "--list_split_depth=2"]) == 0
    (run_dir,) = glob.glob(os.path.join(output, "run=*"))
    errors = pq.ParquetDataset(os.path.join(run_dir, "errors")).read().to_pylist()
    failures = [e for e in errors if e["reason"] == "prefix_unlistable"]
    assert [(e["uri"], e["stage"]) for e in failures] == [(f"{media}/unrelated/", "list")]
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    unrelated = len(glob.glob(os.path.join(corpus["media"], "unrelated", "**", "*"), recursive=True))
    everything = len([p for p in glob.glob(os.path.join(corpus["media"], "**", "*"), recursive=True)
                      if not os.path.isdir(p)])
    assert summary["unlistable_prefixes"] == 1
    assert summary["listed"] == summary["hashed"] + summary["failed"] == everything - unrelated
