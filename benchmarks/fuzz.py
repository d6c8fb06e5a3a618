"""Fuzzing the pure core: `hash_media` on mutated media (bit flips, overwritten runs, cuts,
splices and duplicated chunks of valid JPEG, PNG, GIF, WebP, TIFF, BMP, MP4 and WebM files, and of
the decode-time bombs of tests/time_bombs.py). Every input must end in hashes or a MediaError,
never another exception, within a time and memory bound (checked in a child process with an
address-space limit). With --feeds, the registry feeds' parsers instead: NCMEC's entries XML and
StopNCII's FetchHashes JSON, mutated and built hostile (nested deep, numbers out of range, very
long values); each must end in a page or a FeedError.

    python -m benchmarks.fuzz [--inputs 20000] [--seed 1] [--feeds]

tests/test_fuzz.py runs a short campaign of the same code.
"""
import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
import traceback

CHILD_MEMORY = 3 * 2**30  # the worker budget: a child over it fails its allocation, and is reported
SLOW_S = 10.0  # CPU seconds past which an input is slow, unless its own CPU budget stopped it (over_budget)
# An object's budget widens with what it claims (media/costs.py: a 2.8 KB GIF claiming some 80 MP of
# frames may spend 9 s), so an input stopped by its budget is slow only past this:
LATE_S = 2 * SLOW_S

def seeds():
    """Small valid files of every container the scan decodes."""
    from tests.media import encode, encode_clip, clip_frames, photo

    picture = photo(7, 96, 72)
    files = [encode(picture, fmt) for fmt in ("JPEG", "PNG", "WEBP", "BMP", "TIFF")]
    frames = [photo(s, 48, 36) for s in (1, 2, 3)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100)
    files.append(gif.getvalue())
    apng = io.BytesIO()
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:], duration=100)
    files.append(apng.getvalue())
    clip = clip_frames(4, seconds=0.5, fps=10, size=(64, 48))
    files.append(encode_clip(clip, fmt="mp4"))
    files.append(encode_clip(clip, fmt="webm", codec="libvpx"))
    return files + time_bombs()


def time_bombs():
    """Small versions of the decode-time bombs, whose mutations must stay within their budget."""
    from tests.time_bombs import frame_flood_mp4, gif_of_frames, repeated_scan_jpeg

    return [repeated_scan_jpeg(120, side=512), frame_flood_mp4(1200), gif_of_frames(25_000)]


def feed_seeds():
    """Valid NCMEC entries pages and StopNCII FetchHashes answers, and hostile ones."""
    from tests.feeds import NcmecEntry, NcmecServer

    server = NcmecServer()
    server.close()
    entries = [NcmecEntry("7", f"e{i}", 1_704_067_200 + i, kind=("image", "video")[i % 2],
                          fingerprints={"pdq": "ab" * 32, "md5": "cd" * 16, "tmk-pdqf": f"link:/v2/entries/e{i}/TMK"})
               for i in range(4)] + [NcmecEntry("7", "gone", 1_704_067_300, deleted=True)]
    xml = [server._page(entries, ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"), 1, 9)]
    records = [{"lastModtimestamp": 1_704_067_200 + i, "hashValue": "ab" * 32, "hashStatus": status,
                "signalType": kind, "caseNumbers": {"c1": status}, "hashRegions": ["US"]}
               for i, (status, kind) in enumerate([("Active", "ImagePDQ"), ("Withdrawn", "VideoMD5"),
                                                   ("Received", "VideoTMK"), ("Odd", "Odd")])]
    json_pages = [json.dumps({"count": 4, "hashRecords": records, "nextPageToken": "t", "hasMoreRecords": True,
                              "nextSetTimestamp": 1_704_067_300}).encode()]
    deep = 50_000
    xml += [b"<queryResult><images>" + b"<image>" * deep + b"</image>" * deep + b"</images></queryResult>",
            b"<queryResult><images><image><timestamp>" + b"9" * 5000 + b"</timestamp></image></images></queryResult>"]
    json_pages += [b"[" * deep + b"]" * deep, b'{"hashRecords": [' + b"{" * deep + b"}" * deep + b"]}",
                   b'{"hashRecords": [{"lastModtimestamp": 1' + b"0" * 400 + b', "hashValue": "' + b"a" * 100_000 + b'"}]}',
                   b'{"hashRecords": [], "nextSetTimestamp": 1e999, "hasMoreRecords": false}']
    return [("ncmec", xml[0]), ("stopncii", json_pages[0])] + [("ncmec", x) for x in xml[1:]] + \
        [("stopncii", j) for j in json_pages[1:]]

def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not data:  # cut to nothing: nothing more to mutate
            break
        kind = rng.randrange(5)
        at = rng.randrange(max(1, len(data)))
        if kind == 0:  # flip bits
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # overwrite a run with one byte value (0x00, 0xff, or any)
            value = rng.choice((0, 255, rng.randrange(256)))
            length = rng.randint(1, 64)
            data[at:at + length] = bytes([value]) * len(data[at:at + length])
        elif kind == 2:  # cut
            data = data[:at] if rng.random() < 0.5 else data[:at] + data[at + rng.randint(1, 256):]
        elif kind == 3:  # duplicate a chunk
            chunk = data[at:at + rng.randint(1, 512)]
            data[at:at] = chunk * rng.randint(1, 8)
        else:  # large size fields: write a big integer somewhere
            data[at:at + 4] = rng.choice((b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x01\x00\x00"))
    return bytes(data)

def campaign(inputs: int, seed: int) -> dict:
    """Runs in the child: returns counts and the first few failures."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    from transforms.media.hashing import HashSettings, hash_media
    from transforms.reasons import MediaError
    from transforms.storage.objects import MediaObject

    rng = random.Random(seed)
    files = seeds()
    settings = HashSettings()
    counts = {"inputs": 0, "hashed": 0, "media_error": 0, "crashes": 0, "slow": 0}
    reasons, crashes, slowest = {}, [], 0.0
    for n in range(inputs):
        data = mutate(rng.choice(files), rng)
        start, reason = time.process_time(), None
        try:
            hash_media(MediaObject(f"fuzz/{n}", "v", len(data)), data, settings)
            counts["hashed"] += 1
        except MediaError as e:
            counts["media_error"] += 1
            reason = e.reason
            reasons[e.reason] = reasons.get(e.reason, 0) + 1
        except Exception as e:  # what must never happen
            counts["crashes"] += 1
            if len(crashes) < 5:
                crashes.append({"input": n, "error": f"{type(e).__name__}: {e}",
                                "where": traceback.format_exc().splitlines()[-3:]})
        spent = time.process_time() - start
        slowest = max(slowest, spent)
        stopped = reason == "over_budget"
        counts["slow"] += spent > (LATE_S if stopped else SLOW_S)
        counts["inputs"] += 1
    return {**counts, "reasons": reasons, "crashes_seen": crashes, "slowest_s": round(slowest, 3),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}

def feeds_campaign(inputs: int, seed: int) -> dict:
    """Runs in the child: the feeds' parsers on mutated and hostile documents."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    from transforms.registry import ncmec, stopncii
    from transforms.registry.http import FeedError

    parsers = {"ncmec": ncmec.parse_entries, "stopncii": stopncii.parse_page}
    rng = random.Random(seed)
    documents = feed_seeds()
    counts = {"inputs": 0, "parsed": 0, "feed_error": 0, "crashes": 0, "slow": 0}
    crashes, slowest = [], 0.0
    for n in range(inputs):
        # the hostile documents once as they are, then mutations of all, the valid ones (first) thrice as often
        source, data = documents[n] if n < len(documents) else rng.choice(documents[:2] * 3 + documents)
        if n >= len(documents):
            data = mutate(data, rng)
        start = time.process_time()
        try:
            parsers[source](data)
            counts["parsed"] += 1
        except FeedError:
            counts["feed_error"] += 1
        except Exception as e:  # what must never happen
            counts["crashes"] += 1
            if len(crashes) < 5:
                crashes.append({"input": n, "source": source, "error": f"{type(e).__name__}: {str(e)[:200]}",
                                "where": traceback.format_exc().splitlines()[-3:]})
        spent = time.process_time() - start
        slowest = max(slowest, spent)
        counts["slow"] += spent > SLOW_S
        counts["inputs"] += 1
    return {**counts, "crashes_seen": crashes, "slowest_s": round(slowest, 3),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def run(inputs: int, seed: int, feeds: bool = False) -> dict:
    """The campaign in a child process (its own memory limit); returns its report."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    name = "feeds_campaign" if feeds else "campaign"
    code = f"import json; from benchmarks.fuzz import {name}; print(json.dumps({name}({inputs}, {seed})))"
    result = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True)
    if result.returncode != 0:
        return {"child_failed": result.returncode, "stderr": result.stderr[-2000:]}
    return json.loads(result.stdout.strip().splitlines()[-1])

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--feeds", action="store_true", help="Fuzz the registry feeds' parsers instead of hash_media.")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = run(args.inputs, args.seed, args.feeds)
    report["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if report.get("crashes") == 0 and "child_failed" not in report else 1

if __name__ == "__main__":
    sys.exit(main())
