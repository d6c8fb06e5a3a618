"""Listing a large prefix in key ranges: every key once, none lost, on real local S3 and GCS."""
import random
import string

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.fault_proxy import FaultProxy
from tests.object_servers import gcs_client, gcs_server, s3_client, s3_server
from transforms.storage.listing import KeyRange, Listing, ListMedia, split_remainder
from transforms.storage.stores import StoreSettings

SHAPES = {
    "hex": lambda r, i: "".join(r.choice("0123456789abcdef") for _ in range(12)),
    "counter": lambda r, i: f"img{i:06d}.jpg",
    "dated": lambda r, i: f"2026/{r.randint(1, 12):02d}/{r.randint(1, 28):02d}/{r.randint(0, 99999)}.png",
    "odd": lambda r, i: "".join(r.choice(string.printable[:94] + "é漢🙂") for _ in range(r.randint(1, 6))),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("prefix", ["", "up/"])
def test_the_ranges_after_the_listed_keys_hold_every_later_key_exactly_once(shape, prefix):
    r = random.Random(shape + prefix)
    keys = sorted({prefix + SHAPES[shape](r, i) for i in range(3000)})
    first, last = keys[0], keys[len(keys) // 10]
    for upto in (None, keys[-200]):
        ranges = split_remainder(KeyRange(prefix, None, upto), first, last, keys[len(keys) // 20 : len(keys) // 10])
        assert ranges[0].after == last and ranges[-1].upto == upto
        assert all(a.upto == b.after for a, b in zip(ranges, ranges[1:]))  # consecutive, ascending
        for key in keys:
            holding = [k for k in ranges if k.holds(key)]
            assert len(holding) == (last < key and (upto is None or key <= upto))
        if shape in ("hex", "counter"):  # the rest is spread, not left in one range
            biggest = max(sum(k.holds(key) for key in keys) for k in ranges)
            assert biggest < 0.4 * sum(key > last for key in keys)


def flat_keys():
    r = random.Random(7)
    return sorted({f"flat/{SHAPES['hex'](r, i)}.jpg" for i in range(240)} | {f"flat/img{i:04d}" for i in range(60)}
                  | {"flat/", "flat/img0001/", "top.jpg"})


def listed(uri, settings, split_pages):
    with beam.Pipeline() as p:
        objects, errors, unlistable = p | ListMedia(Listing(uri, settings, split_depth=0, split_pages=split_pages))
        keys = objects | beam.Map(lambda o: o.uri)
        failed = (errors, unlistable) | beam.Flatten() | beam.Map(lambda e: (e.uri, e.reason))
    return keys, failed


@pytest.fixture(scope="module")
def s3():
    with s3_server() as endpoint:
        client = s3_client(endpoint)
        for bucket in ("ranges-plain", "ranges-versioned", "ranges-rootflat"):
            client.create_bucket(Bucket=bucket)
        for key in flat_keys():  # a flat bucket: the keys at its root
            if key != "flat/":
                client.put_object(Bucket="ranges-rootflat", Key=key.replace("flat/", "", 1), Body=b"x")
        client.put_bucket_versioning(Bucket="ranges-versioned", VersioningConfiguration={"Status": "Enabled"})
        for bucket in ("ranges-plain", "ranges-versioned"):
            for key in flat_keys():
                client.put_object(Bucket=bucket, Key=key, Body=b"x")
        client.put_object(Bucket="ranges-versioned", Key="flat/img0002", Body=b"newer")  # two versions, one listed
        yield endpoint


def expected(bucket, scheme="s3"):
    return [f"{scheme}://{bucket}/{k}" for k in flat_keys() if k.startswith("flat/") and not k.endswith("/")]


@pytest.mark.parametrize("bucket", ["ranges-plain", "ranges-versioned"])
def test_a_flat_s3_prefix_is_listed_in_key_ranges_with_every_object_once(s3, bucket):
    settings = StoreSettings(s3_endpoint_url=s3, list_page_keys=20)
    with beam.Pipeline() as p:
        objects, errors, unlistable = p | ListMedia(Listing(f"s3://{bucket}/flat/", settings, split_depth=0, split_pages=2))
        assert_that(objects | beam.Map(lambda o: o.uri), equal_to(expected(bucket)), label="objects")
        assert_that((errors, unlistable) | beam.Flatten(), equal_to([]), label="errors")
    assert key_ranges(p) > 10


def test_a_flat_bucket_root_is_cut_into_key_ranges_by_the_first_split(s3):
    settings = StoreSettings(s3_endpoint_url=s3, list_page_keys=20)
    with beam.Pipeline() as p:
        objects, errors, unlistable = p | ListMedia(Listing("s3://ranges-rootflat", settings, split_depth=1, split_pages=2))
        assert_that(objects | beam.Map(lambda o: o.uri),
                    equal_to([f"s3://ranges-rootflat/{k.replace('flat/', '', 1)}" for k in flat_keys() if not k.endswith("/")]),
                    label="objects")
        assert_that((errors, unlistable) | beam.Flatten(), equal_to([]), label="errors")
    assert key_ranges(p) > 10


def key_ranges(pipeline) -> int:
    counters = pipeline.result.metrics().query(beam.metrics.MetricsFilter().with_name("key_ranges"))["counters"]
    return sum(c.committed for c in counters)


def test_a_failing_key_range_is_one_error_row_and_the_other_ranges_are_listed(s3):
    # the range of keys after flat/g (up to flat/j: the img keys) is refused by the proxy, and nothing else
    with FaultProxy(s3, fail_listings=("start-after=flat/g&",)) as proxy:
        settings = StoreSettings(s3_endpoint_url=proxy.url, list_page_keys=20, attempts=1)
        with beam.Pipeline() as p:
            objects, errors, unlistable = p | ListMedia(Listing("s3://ranges-plain/flat/", settings, split_depth=0,
                                                                split_pages=2))
            assert_that(errors, equal_to([]), label="object errors")
            failed = unlistable | beam.Map(lambda e: (e.uri, e.reason, "keys after 'flat/g' up to 'flat/j'" in e.detail))
            assert_that(failed, equal_to([("s3://ranges-plain/flat/", "prefix_unlistable", True)]), label="errors")
            assert_that(objects | beam.Map(lambda o: o.uri),
                        equal_to([k for k in expected("ranges-plain") if "/img" not in k]), label="objects")


def test_a_flat_gcs_prefix_is_listed_in_key_ranges_with_every_object_once():
    with gcs_server():
        bucket = gcs_client().create_bucket("ranges-gcs")
        for key in flat_keys():
            bucket.blob(key).upload_from_string(b"x")
        with beam.Pipeline() as p:
            objects, errors, unlistable = p | ListMedia(Listing("gs://ranges-gcs/flat/", StoreSettings(list_page_keys=20),
                                                                split_depth=0, split_pages=2))
            assert_that(objects | beam.Map(lambda o: o.uri), equal_to(expected("ranges-gcs", "gs")), label="objects")
            assert_that((errors, unlistable) | beam.Flatten(), equal_to([]), label="errors")
