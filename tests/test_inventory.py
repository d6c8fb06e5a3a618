"""Inventory rows -> objects: keys, versions, old versions and delete markers."""
from transforms.storage.inventory import inventory_object

ROW = {"bucket": "media", "key": "a%2Bb/c d.jpg", "size": "3", "etag": '"abc"', "islatest": "true"}


def test_csv_keys_are_url_decoded_and_parquet_keys_are_not():
    assert inventory_object("s3", ROW, url_encoded_keys=True).uri == "s3://media/a+b/c d.jpg"
    assert inventory_object("s3", ROW, url_encoded_keys=False).uri == "s3://media/a%2Bb/c d.jpg"


def test_versions_and_skipped_rows():
    assert inventory_object("s3", ROW).version == "abc"
    assert inventory_object("s3", {**ROW, "versionid": "3HL4kqtJlcpXroDTDmJ"}).version == "3HL4kqtJlcpXroDTDmJ"
    assert inventory_object("s3", {**ROW, "versionid": "null"}).version == "abc"
    assert inventory_object("s3", {**ROW, "islatest": "false"}) is None
    assert inventory_object("s3", {**ROW, "isdeletemarker": True}) is None
    gcs = inventory_object("gcs", {"bucket": "m", "name": "x/y.png", "generation": 17, "size": 5, "contenttype": "image/png"})
    assert (gcs.uri, gcs.version, gcs.size) == ("gs://m/x/y.png", "17", 5)
    assert inventory_object("gcs", {"bucket": "m", "name": "folder/", "generation": 1, "size": 0}) is None
