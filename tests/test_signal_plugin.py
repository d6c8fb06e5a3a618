"""A signal type is one module: a toy type registered from tests/toy_signal.py alone reaches the
command line, the hashing, the hash store, the match rows and the next night's matching of new
entries against stored hashes, with no other file knowing its name."""
import glob
import os

import pyarrow.parquet as pq
import pytest

from pipelines import scan
from tests.conftest import REPO, registry_csv, write
from tests.media import encode, photo
from tests.toy_signal import TOY
from transforms.signals import SIGNALS, hasher_version, register


@pytest.fixture
def toy():
    register(TOY)
    yield TOY
    SIGNALS.pop(TOY.name)


def test_no_other_file_names_the_toy():
    named = [path for path in glob.glob(os.path.join(REPO, "**", "*.py"), recursive=True)
             if "toy_size" in open(path, encoding="utf-8").read() and "/.venv/" not in path]
    assert sorted(os.path.relpath(p, REPO) for p in named) == ["tests/test_signal_plugin.py", "tests/toy_signal.py"]


def run_rows(output, part):
    run = sorted(glob.glob(os.path.join(output, "run=*")))[-1]
    return pq.read_table(os.path.join(run, part)).to_pylist()


def add_version(root, name, rows):
    write(os.path.join(root, name, "entries.csv"), registry_csv(rows))
    write(os.path.join(root, name, "_SUCCESS"), b"")


def test_a_toy_signal_type_flows_through_options_hashing_store_and_matching(toy, tmp_path, capsys):
    assert scan.main(["--help"]) == 0 and "--toy_size_slack" in capsys.readouterr().out
    media, root, output = tmp_path / "media", tmp_path / "registry", tmp_path / "out"
    sizes = {}
    for name, seed in (("a.jpg", 901), ("b.jpg", 902), ("c.jpg", 903)):
        data = encode(photo(seed), "JPEG", quality=80)
        write(str(media / name), data)
        sizes[name] = len(data)
    assert min(abs(sizes[x] - sizes[y]) for x, y in (("a.jpg", "b.jpg"), ("a.jpg", "c.jpg"), ("b.jpg", "c.jpg"))) > 20

    def entry(entry_id, size):
        return (entry_id, "toy_size", size.to_bytes(4, "big").hex(), "toy", "m")

    add_version(root, "v1", [entry("T-1", sizes["a.jpg"] + 5)])
    argv = [f"--media={media}", f"--registry={root}", f"--output={output}", "--toy_size_slack=10"]
    assert scan.main(argv) == 0
    matches = run_rows(output, "matches")
    assert [(m["uri"].rsplit("/", 1)[1], m["signal_type"], m["entry_id"], m["distance"]) for m in matches] == [
        ("a.jpg", "toy_size", "T-1", 5)]
    assert matches[0]["item_hash"] == sizes["a.jpg"].to_bytes(4, "big").hex()
    assert matches[0]["toy_size_ratio"] == pytest.approx(sizes["a.jpg"] / (sizes["a.jpg"] + 5))
    stored = {row["uri"].rsplit("/", 1)[1]: row
              for path in glob.glob(os.path.join(output, "hashes", "run=*", "objects", "*.parquet"))
              for row in pq.read_table(path).to_pylist()}
    assert {name: row["toy_size"] for name, row in stored.items()} == {
        name: [size.to_bytes(4, "big")] for name, size in sizes.items()}
    assert all(row["hasher_version"] == hasher_version("image") and "toy-1" in row["hasher_version"]
               for row in stored.values())

    # night 2: a new entry finds a stored object from its stored toy value, without hashing it again
    add_version(root, "v2", [entry("T-1", sizes["a.jpg"] + 5), entry("T-2", sizes["b.jpg"] - 8)])
    assert scan.main(argv) == 0
    found = {(m["uri"].rsplit("/", 1)[1], m["entry_id"], m["found_by"]) for m in run_rows(output, "matches")}
    assert ("b.jpg", "T-2", "new_entry") in found
    assert not any(m["entry_id"] == "T-2" for m in matches)

    # the option is the toy's threshold: no slack, no match
    assert scan.main([f"--media={media}", f"--registry={root}", f"--output={tmp_path / 'strict'}",
                      "--toy_size_slack=0"]) == 0
    assert run_rows(tmp_path / "strict", "matches") == []
