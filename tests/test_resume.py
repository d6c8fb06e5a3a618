"""A run that did not commit hands its hashes on: the next run adopts the whole objects/ files its
finished bundles wrote (a file cut off mid-write is left alone), when it hashed with the same
settings, and hashes only the rest; what it adopts is matched and reported by the run that adopts
it, never on the killed run's word."""
import glob
import os
import shutil

from tests.conftest import write
from tests.test_compaction import matches, night
from tests.test_nightly import add_version, entry, scramble_unchanged, stored


def kill_before_commit(output, run_id, finalized: bool = True) -> None:
    """Make a finished run look killed: no markers and, unless `finalized`, its objects/ files
    still in a temporary folder as a bundle leaves them, beside a file cut off mid-write."""
    os.remove(os.path.join(output, f"run={run_id}", "_SUCCESS"))
    os.remove(os.path.join(output, "hashes", f"run={run_id}", "_COMMITTED"))
    if finalized:
        return
    objects = os.path.join(output, "hashes", f"run={run_id}", "objects")
    temp = os.path.join(objects, "beam-temp-0123")
    os.makedirs(temp)
    for i, path in enumerate(sorted(glob.glob(os.path.join(objects, "*.parquet")))):
        shutil.move(path, os.path.join(temp, f"{i}.parquet"))
        with open(os.path.join(temp, f"{i}.parquet"), "rb") as f:
            write(os.path.join(temp, f"cut-{i}.parquet"), f.read()[:-100])  # no footer: never closed


def test_the_next_run_adopts_what_a_killed_run_hashed_and_reports_it(tmp_path):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    for i in range(3):
        write(os.path.join(media, f"old{i}.jpg"), stored(750 + i, "plain"))
    add_version(registry, "v1", [entry("E-761", 761)])
    night(media, registry, output)
    for i in range(4):
        write(os.path.join(media, f"new{i}.jpg"), stored(760 + i, "plain"))
    killed, summary = night(media, registry, output)
    assert summary["hashed"] == 4 and matches(output, killed) == [("new1.jpg", "E-761", "hashed")]
    kill_before_commit(output, killed, finalized=False)

    scramble_unchanged(media)  # every file: any read of one would be an error
    resumed, summary = night(media, registry, output)
    assert summary["adopted"] == 4 and summary["hashed"] == 0 and summary["failed"] == 0
    assert summary["unchanged_skipped"] == 3 and summary["listed"] == 7
    assert matches(output, resumed) == [("new1.jpg", "E-761", "hashed")]  # reported by the run that committed
    again, summary = night(media, registry, output)
    assert summary["unchanged_skipped"] == 7 and summary["adopted"] == summary["hashed"] == 0
    assert matches(output, again) == []


def test_hashes_made_with_other_settings_are_not_adopted(tmp_path):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    write(os.path.join(media, "a.jpg"), stored(770, "plain"))
    add_version(registry, "v1", [entry("E-770", 770)])
    killed, _ = night(media, registry, output, "--max_pixels=50000000")
    kill_before_commit(output, killed)
    _, summary = night(media, registry, output)
    assert summary["adopted"] == 0 and summary["hashed"] == 1


def test_an_object_changed_since_the_killed_run_is_hashed_again(tmp_path):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    for name, seed in (("kept.jpg", 780), ("changed.jpg", 781)):
        write(os.path.join(media, name), stored(seed, "plain"))
    add_version(registry, "v1", [entry("E-781", 781), entry("E-782", 782)])
    killed, summary = night(media, registry, output)
    assert matches(output, killed) == [("changed.jpg", "E-781", "hashed")]
    kill_before_commit(output, killed)
    write(os.path.join(media, "changed.jpg"), stored(782, "plain"))  # another picture, another version
    resumed, summary = night(media, registry, output)
    assert summary["adopted"] == 1 and summary["hashed"] == 1
    assert matches(output, resumed) == [("changed.jpg", "E-782", "hashed")]
