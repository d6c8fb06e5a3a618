"""Objects per second scanned from a local S3 server, with and without concurrent reads.

Starts moto's S3 server on 127.0.0.1, uploads generated JPEGs, and runs the whole scan on the
DirectRunner with --read_concurrency 1 (one read at a time per worker thread) and N, straight to
the server and through a proxy that adds network latency to each object read (object stores
answer in tens of milliseconds, a local server in about one).

    python -m benchmarks.read_concurrency [--objects 200] [--latency_ms 50] [--concurrency 16]
"""
import argparse
import glob
import json
import os
import sys
import tempfile
import time

from pipelines import scan
from tests.fault_proxy import FaultProxy
from tests.media import encode, photo
from tests.object_servers import s3_client, s3_server


def run(media, registry, endpoint, concurrency) -> float:
    output = tempfile.mkdtemp(prefix="bench-")
    argv = [f"--media={media}", f"--registry={registry}", f"--output={output}", f"--s3_endpoint_url={endpoint}",
            f"--read_concurrency={concurrency}", "--direct_num_workers=1"]
    start = time.perf_counter()
    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")
    try:
        assert scan.main(argv) == 0
    finally:
        sys.stdout = stdout
    elapsed = time.perf_counter() - start
    with open(glob.glob(os.path.join(output, "run=*", "summary.json"))[0]) as f:
        hashed = json.load(f)["hashed"]
    return hashed / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--latency_ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    registry = os.path.join(os.path.dirname(scan.__file__), "sample", "registry")
    with s3_server() as endpoint:
        client = s3_client(endpoint)
        client.create_bucket(Bucket="media")
        for i in range(args.objects):
            client.put_object(Bucket="media", Key=f"img/{i:05d}.jpg", Body=encode(photo(i, 320, 240), "JPEG"))
        print(f"{args.objects} JPEGs of 320x240 on a local S3 server (moto), whole scans, DirectRunner, 1 worker")
        print(f"{'reads':34} {'concurrency 1':>14} {f'concurrency {args.concurrency}':>15} {'speed-up':>9}")
        with FaultProxy(endpoint, delay_s=args.latency_ms / 1000) as proxy:
            for label, url in (("straight to the server", endpoint), (f"+{args.latency_ms:g} ms per read", proxy.url)):
                one = run("s3://media/img", registry, url, 1)
                many = run("s3://media/img", registry, url, args.concurrency)
                print(f"{label:34} {one:>10.1f}/s {many:>11.1f}/s {many / one:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
