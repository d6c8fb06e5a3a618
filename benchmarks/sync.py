"""What a sync of a large NCMEC registry costs: --entries entries (each size in turn) (each with PDQ, MD5 and SHA-1,
as NCMEC's image entries carry), spread over two years, served 1,000 a page by the test server
of tests/feeds.py (in this process), fetched by

- ours: `python -m pipelines.sync ncmec` (windows, journal, the complete version written);
- the baseline: python-threatexchange's NCMEC client paging the same registry in one window
  into a dict in memory (no windows, no checkpoint, nothing written), as a platform would start.

Each runs in its own process, under GNU time (`/usr/bin/time`); the figures are that process's
own (wall, CPU, peak resident memory), then the version's size. Then a second night: --changed entries updated, ours only. The
baseline runs only up to --baseline_max entries (it holds them all in memory).

    python -m benchmarks.sync [--entries 1000000 10000000] [--changed 10000] [--baseline_max 1000000]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

from tests.feeds import NcmecEntry, NcmecServer

T0 = 1_672_531_200  # 2023-01-01
SPAN = 2 * 365 * 86400
BASELINE = """
import sys, time
from threatexchange.exchanges.clients.ncmec.hash_api import NCMECHashAPI, NCMECEnvironment
api = NCMECHashAPI(sys.argv[1], sys.argv[2], NCMECEnvironment.test_Industry)
api._base_url = sys.argv[3]
entries = {}
for page in api.get_entries_iter(start_timestamp=0, end_timestamp=int(time.time())):
    for update in page.updates:
        entries[f"{update.member_id}-{update.id}"] = update
print(len(entries))
"""


def entry(i: int, ts: int, tag: str = "") -> NcmecEntry:
    seed = f"{i}{tag}".encode()
    return NcmecEntry("7", f"img{i}", ts, fingerprints={
        "md5": hashlib.md5(seed).hexdigest(), "sha1": hashlib.sha1(seed).hexdigest(),
        "pdq": hashlib.sha256(seed).hexdigest()})


def measured(command, env, cwd):
    """Wall, CPU and peak resident memory of one command. It runs under GNU time, whose own child
    it is: a process forked straight from this one would count this process's memory (the test
    server's registry, gigabytes at 10M entries) in its peak, since Linux carries the peak
    across fork and exec."""
    start = time.monotonic()
    with tempfile.NamedTemporaryFile("r") as report:
        process = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name, *command], env=env, cwd=cwd,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        wall = time.monotonic() - start
        if process.returncode != 0:
            raise SystemExit(f"{command[:4]} failed with status {process.returncode}")
        user, system, peak_kb = report.read().split()[-3:]
    return {"wall": wall, "cpu": float(user) + float(system), "peak_mb": int(peak_kb) / 1024,
            "out": process.stdout.decode()}


def row(name, m, size=""):
    print(f"{name:<34} {m['wall']:>8.1f} {m['cpu']:>8.1f} {m['peak_mb']:>8.0f} {size:>10}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--baseline_max", type=int, default=1_000_000,
                        help="run the baseline, which holds every entry in a dict, up to this many entries")
    args = parser.parse_args(argv)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    server = NcmecServer(page_size=1000)
    env = dict(os.environ, TAKEDOWN_NCMEC_CREDENTIALS=f"{server.user}:{server.password}")
    print(f"{'':<40} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'version MB':>10}")
    for entries in args.entries:
        server.log = [entry(i, T0 + (i * 7919) % SPAN) for i in range(entries)]
        print(f"{entries:,} NCMEC entries, {3 * entries:,} fingerprints, 1,000 a page", flush=True)
        with tempfile.TemporaryDirectory() as root:
            sync = [sys.executable, "-m", "pipelines.sync", "ncmec", f"--registry={root}", f"--api-url={server.url}"]
            ours = measured(sync, env, here)
            version = max(os.path.join(root, v) for v in os.listdir(root))
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(version) for f in fs) / 1e6
            with open(os.path.join(version, "manifest.json")) as f:
                facts = json.load(f)["sources"]["ncmec"]
            row(f"ours: first night ({facts['merge_buckets']} buckets)", ours, f"{size:.0f}")
            if entries <= args.baseline_max:
                baseline = measured([sys.executable, "-c", BASELINE, server.user, server.password, server.url], env, here)
                row("threatexchange client, fetch only", baseline)
                print(f"{'ours / baseline':<40} {ours['wall'] / baseline['wall']:>8.2f} "
                      f"{ours['cpu'] / baseline['cpu']:>8.2f} {ours['peak_mb'] / baseline['peak_mb']:>8.2f}")
            server.log += [entry(i, facts["checkpoint"]["from"], "new") for i in range(0, args.changed)]
            time.sleep(1.5)  # the second night's window must end after the checkpoint
            again = measured(sync, env, here)
            row(f"ours: second night, {args.changed:,} changed", again, f"{size:.0f}")
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
