"""Shared fixtures: a generated corpus (registry, media with altered copies, bad inputs) and one
scan of it, reused by the end-to-end tests."""
import atexit
import glob
import hashlib
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from tests.media import altered_copies, encode, mp4_clip, photo, png_bomb, pdq_of_rgb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE = os.environ.get("TAKEDOWN_CONFORMANCE", os.path.join(REPO, "..", "shared", "conformance"))

# the registry cache of this test session, not the machine's (the scans started as commands inherit it)
os.environ["TAKEDOWN_SCAN_CACHE"] = tempfile.mkdtemp(prefix="takedown-scan-cache-tests-")
atexit.register(shutil.rmtree, os.environ["TAKEDOWN_SCAN_CACHE"], True)

REGISTERED = {"E-11": 11, "E-12": 12, "E-13": 13}  # entry -> photo seed
UNRELATED = (301, 302, 303, 304, 305, 306)
# bad input file -> the reason code it must fail with
BAD_INPUTS = {
    "bad/empty.jpg": "empty",
    "bad/truncated.jpg": "truncated",
    "bad/random.jpg": "unsupported_type",
    "bad/notes.jpg": "unsupported_type",
    "bad/bomb-30000x30000.png": "too_many_pixels",
    "bad/report.pdf": "unsupported_type",
    "bad/broken-header.png": "corrupt",
}


def write(path, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def registry_csv(rows, columns=("entry_id", "signal_type", "signal_value", "source", "member_id")) -> bytes:
    return ("\n".join([",".join(columns)] + [",".join(r) for r in rows]) + "\n").encode()


def add_version(root, version: str, rows) -> None:
    """A complete registry version ROOT/VERSION/ of these rows, as a registry written by hand."""
    write(os.path.join(root, version, "entries.csv"), registry_csv(rows))
    write(os.path.join(root, version, "_SUCCESS"), b"")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A registry root and a media folder. Returns a dict of paths and expectations."""
    root = tmp_path_factory.mktemp("corpus")
    media, registry = root / "media", root / "registry"
    expected = {}  # relative media path -> set of entry ids it must match
    rows = []
    for entry, seed in REGISTERED.items():
        original = photo(seed)
        rows.append((entry, "pdq", pdq_of_rgb(np.asarray(original)).pdq.hex(), "take_it_down", "m1"))
        if entry == "E-13":  # registered by exact hashes only: the file itself
            exact = encode(original, "JPEG", quality=90)
            write(str(media / "exact" / "e13.jpg"), exact)
            rows = [r for r in rows if r[0] != "E-13"]
            rows.append((entry, "md5", hashlib.md5(exact).hexdigest().upper(), "stopncii", "m2"))
            rows.append((entry, "sha256", hashlib.sha256(exact).hexdigest(), "stopncii", "m2"))
            expected["exact/e13.jpg"] = {entry}
            continue
        for name, data in altered_copies(original).items():
            write(str(media / "copies" / entry / name), data)
            expected[f"copies/{entry}/{name}"] = {entry}
    rows.append(("E-90", "pdna", "c29tZSBwaG90b0ROQQ==", "ncmec", "m3"))
    rows.append(("E-91", "vpdq", "0" * 100, "ncmec", "m3"))
    for seed in UNRELATED:
        write(str(media / "unrelated" / f"{seed}.jpg"), encode(photo(seed), "JPEG", quality=85))
        expected[f"unrelated/{seed}.jpg"] = set()
    # bad inputs
    rng = np.random.default_rng(7)
    write(str(media / "bad/empty.jpg"), b"")
    write(str(media / "bad/truncated.jpg"), encode(photo(401), "JPEG")[:5000])
    write(str(media / "bad/random.jpg"), rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write(str(media / "bad/notes.jpg"), b"these are not the pictures you are looking for\n" * 20)
    write(str(media / "bad/bomb-30000x30000.png"), png_bomb(30000, 30000))
    write(str(media / "bad/report.pdf"), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    write(str(media / "bad/broken-header.png"), b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    write(str(media / "video/clip.mp4"), mp4_clip())
    expected["video/clip.mp4"] = set()
    # the registry: a complete version, and a newer one without _SUCCESS that must be ignored
    complete = registry / "2026-11-20T0300Z"
    write(str(complete / "hashes.csv"), registry_csv(rows))
    write(str(complete / "_SUCCESS"), b"")
    decoy = [("DECOY", "pdq", pdq_of_rgb(np.asarray(photo(UNRELATED[0]))).pdq.hex(), "x", "x")]
    write(str(registry / "2026-11-21T0300Z" / "hashes.csv"), registry_csv(decoy))
    return {"root": root, "media": str(media), "registry": str(registry), "expected": expected}


@pytest.fixture(scope="module")
def three_matches(tmp_path_factory):
    """One night's output with three matches (a.jpg: A, b.jpg: B, c.jpg: C, source take_it_down),
    their entries seen ten hours before the night. Per test module: test_act replaces a file."""
    from pipelines import scan  # noqa: PLC0415 -- Beam, for the tests that use this only
    from tests.test_nightly import entry, stored  # noqa: PLC0415

    base = tmp_path_factory.mktemp("desk")
    media, registry, output = str(base / "media"), str(base / "registry"), str(base / "out")
    files = {"a.jpg": ("A", 671), "b.jpg": ("B", 672), "c.jpg": ("C", 673)}
    for name, (_, seed) in files.items():
        write(os.path.join(media, name), stored(seed, "plain"))
    add_version(registry, "v1", [entry(e, seed) for e, seed in files.values()])
    published = time.time() - 10 * 3600
    os.utime(os.path.join(registry, "v1", "_SUCCESS"), (published, published))
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    return {"output": output, "media": media, "seen": datetime.fromtimestamp(published, timezone.utc)}


def match_ids(output):
    """file name -> the match_id of its match, over every committed run of an output."""
    from transforms.reports.view import read_report  # noqa: PLC0415
    runs = [os.path.basename(p)[4:] for p in glob.glob(os.path.join(output, "run=*"))]
    return {os.path.basename(r["uri"]): r["match_id"] for r in read_report(output, runs).matches}
