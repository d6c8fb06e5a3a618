"""One scan of a folder holding every hostile thing at once (special files, links in and out,
names that are not UTF-8, bombs of every container and of decode time, a cut video, a second
video stream) beside
registered pictures: exit 0, every entry in exactly one of hashed / failed, the registered
pictures matched, nothing outside the folder read, and the scan's peak memory under 3 GB
(getrusage of the child process that ran it)."""
import glob
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq

from tests.conftest import REPO, registry_csv, write
from tests.media import clip_frames, encode, faststart, pdq_of_rgb, photo, two_streams
from tests.test_bombs import gif_of_dots, strip, tiff_with_a_big_page
from tests.test_local_listing import add_special_entries
from tests.time_bombs import frame_flood_mp4, giant_mjpeg_mkv, gif_of_frames, repeated_scan_jpeg


def test_everything_hostile_at_once(tmp_path):
    media, outside, registry = tmp_path / "media", tmp_path / "outside", tmp_path / "registry"
    registered = {seed: photo(seed) for seed in (701, 702)}
    write(str(media / "plain.jpg"), encode(registered[701], "JPEG", quality=90))
    with open(os.path.join(os.fsencode(media), b"upload_\xfe\xff.jpg"), "wb") as f:
        f.write(encode(registered[702], "PNG"))
    write(str(outside / "secret.jpg"), encode(registered[701], "JPEG"))
    add_special_entries(media, outside)
    write(str(media / "bombs" / "dots-20.gif"), gif_of_dots(9999, 9999, 20))
    write(str(media / "bombs" / "dots-2.gif"), gif_of_dots(9999, 9999, 2))
    write(str(media / "bombs" / "pages.tif"), tiff_with_a_big_page(12000))
    write(str(media / "bombs" / "strip.png"), strip(767, 123_000))
    write(str(media / "bombs" / "scans.jpg"), repeated_scan_jpeg(2000))
    write(str(media / "bombs" / "flood.mp4"), frame_flood_mp4(5000))
    write(str(media / "bombs" / "frames.gif"), gif_of_frames(1_000_000))
    write(str(media / "bombs" / "giant.mkv"), giant_mjpeg_mkv(12000))
    whole = faststart(clip_frames(8, seconds=4.0), tmp_path / "clip.mp4")
    write(str(media / "video" / "cut.mp4"), whole[: len(whole) * 7 // 10])
    write(str(media / "video" / "two-streams.mp4"), two_streams(clip_frames(9, 1.0), clip_frames(10, 1.0)))
    write(str(media / "junk.jpg"), np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    write(str(media / "empty.png"), b"")
    rows = [(f"E-{seed}", "pdq", pdq_of_rgb(np.asarray(p)).pdq.hex(), "tid", "m") for seed, p in registered.items()]
    write(str(registry / "v1" / "entries.csv"), registry_csv(rows))
    write(str(registry / "v1" / "_SUCCESS"), b"")

    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pipelines.scan", f"--media={media}", f"--registry={registry}",
                             f"--output={tmp_path / 'out'}"], cwd=REPO, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    (run_dir,) = glob.glob(str(tmp_path / "out" / "run=*"))
    errors = {os.path.relpath(r["uri"], str(media)): r["reason"]
              for r in pq.ParquetDataset(os.path.join(run_dir, "errors")).read().to_pylist()}
    matches = {(os.path.basename(r["uri"]), r["entry_id"])
               for r in pq.ParquetDataset(os.path.join(run_dir, "matches")).read().to_pylist()}
    assert errors == {
        "x.jpg": "special_file", "sock.jpg": "special_file", "link-in.jpg": "symlink_skipped",
        "link-out.jpg": "symlink_skipped", "zero.jpg": "symlink_skipped", "folder-out": "symlink_skipped",
        "bombs/dots-20.gif": "too_many_pixels", "bombs/pages.tif": "too_many_pixels",
        "bombs/scans.jpg": "over_budget", "bombs/flood.mp4": "over_budget", "bombs/frames.gif": "too_long",
        "bombs/giant.mkv": "too_many_pixels",
        "junk.jpg": "unsupported_type", "empty.png": "empty",
    }
    assert matches == {("plain.jpg", "E-701"), ("upload_%FE%FF.jpg", "E-702")}
    assert summary["listed"] == summary["hashed"] + summary["failed"] == 20
    assert not any("secret" in uri for uri in errors) and "secret" not in result.stdout
    stored = pq.ParquetDataset(glob.glob(str(tmp_path / "out" / "hashes" / "run=*" / "objects"))[0]).read()
    partial = {os.path.basename(u): p for u, p in zip(stored.column("uri").to_pylist(), stored.column("partial").to_pylist())}
    assert partial["cut.mp4"] and not partial["two-streams.mp4"]
    assert peak < 3 * 2**30, peak
    print(f"hostile scan: {elapsed:.1f} s, peak {peak / 2**20:.0f} MB")
