"""The byte budget of objects in flight: never more held than the budget, an object larger than
the whole budget runs alone, and a real scan keeps to it."""
import os
import threading
import time

import pytest

from pipelines import scan
from tests.conftest import write
from tests.media import encode, photo
from transforms.media.inflight import InflightBytes, process_inflight


def test_holders_never_exceed_the_budget_and_an_oversized_one_runs_alone():
    budget = InflightBytes(100)
    held, seen, lock = [0], [], threading.Lock()

    def work(size):
        with budget.hold(size):
            with lock:
                held[0] += min(size, 100)
                seen.append((size, held[0]))
            time.sleep(0.01)
            with lock:
                held[0] -= min(size, 100)

    threads = [threading.Thread(target=work, args=(size,)) for size in [30] * 20 + [250, 40, 40]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads) and len(seen) == 23
    assert budget.peak <= 100 and budget.used == 0
    assert max(h for _, h in seen) <= 100
    assert [h for size, h in seen if size == 250] == [100]  # alone
    with pytest.raises(ValueError):
        InflightBytes(0)


def test_a_scan_keeps_its_objects_in_flight_within_the_budget(tmp_path, corpus):
    media = tmp_path / "media"
    sizes = []
    for i in range(12):
        data = encode(photo(900 + i), "PNG")  # noisy photos: PNGs of about the same size
        write(str(media / f"p{i}.png"), data)
        sizes.append(len(data))
    limit = int(2.5 * max(sizes))
    argv = [f"--media={media}", f"--registry={corpus['registry']}", f"--output={tmp_path / 'out'}",
            "--read_concurrency=8", f"--max_inflight_bytes={limit}"]
    assert scan.main(argv) == 0
    budget = process_inflight(limit)
    assert max(sizes) <= budget.peak <= limit and budget.used == 0
    assert os.path.exists(tmp_path / "out")


def test_a_budget_of_no_bytes_is_refused(tmp_path, corpus, capsys):
    argv = [f"--media={tmp_path}", f"--registry={corpus['registry']}", f"--output={tmp_path / 'out'}",
            "--max_inflight_bytes=0"]
    assert scan.main(argv) == 2
    assert "--max_inflight_bytes" in capsys.readouterr().err
