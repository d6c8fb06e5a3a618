"""Listing a large prefix: one worker listing it whole (what the scan did before: every key in
one Python list) beside the scan's listing (pages streamed; a prefix of more than
`--split_pages` pages cut into key ranges for other workers), against a local S3 server (moto,
in its own process) holding a flat prefix and a deep one.

    python -m benchmarks.listing [--keys 200000] [--split_pages 10]

Per shape: keys listed (equal, or something was lost), wall and CPU seconds of the listing
process, its peak memory above what it held before listing, and the most keys one worker lists
(the baseline's one worker lists them all; the scan's ranges spread them over workers).
"""
import argparse
import json
import os
import subprocess
import sys
import time

from tests.object_servers import S3_CREDENTIALS, free_port

SERVER = """
import random, sys, time
from moto.server import ThreadedMotoServer
import boto3
port, keys = int(sys.argv[1]), int(sys.argv[2])
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
client.create_bucket(Bucket="bench")
from moto.s3.models import s3_backends
backend = s3_backends["123456789012"]["aws"]
r = random.Random(1)
for i in range(keys):  # straight into the server's store: uploading 400k keys by HTTP takes too long
    backend.put_object("bench", "flat/%012x.jpg" % r.getrandbits(48), b"x")
    backend.put_object("bench", "deep/%d/%d/%d/%012x.jpg" % (i % 10, i // 10 % 10, i // 100 % 10, r.getrandbits(48)), b"x")
print("ready", flush=True)
time.sleep(86400)
"""

LISTER = """
import json, resource, sys, time
from transforms.storage.listing import KeyRange, _ListPrefixes, _ListRange
from transforms.storage.stores import StoreSettings, Stores
mode, endpoint, prefix, split_pages = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = StoreSettings(s3_endpoint_url=endpoint)
store = Stores(settings).get("s3")
list(store.pages("bench", "none/"))  # clients made and the bucket's versioning asked before measuring
before, start, cpu = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter(), time.process_time()
if mode == "whole":
    listed = len([o for page in store.pages("bench", prefix) for o in page.objects])
    workers = [listed]
else:
    def run(fn, element):
        objects, handed = 0, []
        for item in fn.process(element):
            if isinstance(item, KeyRange) or hasattr(item, "tag"):
                handed.append(getattr(item, "value", item))
            else:
                objects += 1
        return objects, handed
    split, first, rest = (_ListPrefixes(settings, 1, split_pages), _ListRange(f"s3://bench/{prefix}", settings, split_pages),
                          _ListRange(f"s3://bench/{prefix}", settings, None))
    for fn in (split, first, rest):
        fn.setup()
    near_top, prefixes = run(split, f"s3://bench/{prefix}")
    workers, ranges = [near_top], []
    for key_range in prefixes:
        n, handed = run(first, key_range)
        workers.append(n)
        ranges.extend(handed)
    for key_range in ranges:
        workers.append(run(rest, key_range)[0])
    listed = sum(workers)
print(json.dumps({"listed": listed, "wall": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                  "peak": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024,
                  "lists": len(workers), "most": max(workers)}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--split_pages", type=int, default=10)
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, **S3_CREDENTIALS}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(args.keys)], env=env, cwd=here,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        started = time.perf_counter()
        assert server.stdout.readline().strip() == "ready"
        print(f"{args.keys:,} keys a prefix loaded in {time.perf_counter() - started:.0f} s")
        print(f"{'prefix':>7} {'listing':>14} {'keys':>8} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} {'lists':>6} "
              f"{'most keys one list':>18}")
        for prefix in ("flat/", "deep/"):
            for mode in ("whole", "ranges"):
                out = subprocess.run([sys.executable, "-c", LISTER, mode, f"http://127.0.0.1:{port}", prefix,
                                      str(args.split_pages)], env=env, cwd=here, capture_output=True, text=True,
                                     check=True).stdout
                m = json.loads(out.strip().splitlines()[-1])
                name = "one worker" if mode == "whole" else "scan (ranges)"
                print(f"{prefix:>7} {name:>14} {m['listed']:>8,} {m['wall']:>7.1f} {m['cpu']:>6.1f} "
                      f"{m['peak'] / 1e6:>8.1f} {m['lists']:>6} {m['most']:>18,}", flush=True)
    finally:
        server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
