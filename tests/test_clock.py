"""The 48-hour clock: match rows carry when the entry was first seen and when the match was made,
and the report says how long finding and reviewing took and which matches are late, at a fixed
clock (--now) on either side of the deadline."""
import csv
import glob
import os
import time
from datetime import datetime, timedelta, timezone

import pyarrow.parquet as pq

from pipelines import cli
from tests.conftest import write
from tests.test_compaction import night
from tests.test_nightly import add_version, entry, stored
from transforms.reports.clock import spread


def test_spread_is_the_median_the_95th_percentile_by_rank_and_the_worst():
    assert spread([]) is None
    assert spread([3.0]) == {"median": 3.0, "p95": 3.0, "worst": 3.0}
    assert spread([4.0, 1.0, 2.0, 3.0]) == {"median": 2.5, "p95": 4.0, "worst": 4.0}
    assert spread([float(h) for h in range(1, 101)])["p95"] == 95.0


def report(capsys, output, *flags):
    capsys.readouterr()
    status = cli.main(["report", output, *flags])
    out, err = capsys.readouterr()
    assert status == 0, err
    return out


def test_times_flow_from_the_registry_to_the_report_and_flag_what_waits_past_the_deadline(tmp_path, capsys):
    media, registry, output = str(tmp_path / "media"), str(tmp_path / "registry"), str(tmp_path / "out")
    write(os.path.join(media, "a.jpg"), stored(790, "plain"))
    add_version(registry, "v1", [entry("E-790", 790)])
    published = time.time() - 10 * 3600  # a registry written by hand ten hours ago: its marker's time
    os.utime(os.path.join(registry, "v1", "_SUCCESS"), (published, published))
    before = datetime.now(timezone.utc)
    run_id, _ = night(media, registry, output)
    (row,) = [r for f in glob.glob(os.path.join(output, f"run={run_id}", "matches", "*.parquet"))
              for r in pq.read_table(f).to_pylist()]
    assert abs((row["entry_seen_at"] - datetime.fromtimestamp(published, timezone.utc)).total_seconds()) < 0.01
    assert before <= row["found_at"] <= datetime.now(timezone.utc)
    hours = (row["found_at"] - row["entry_seen_at"]).total_seconds() / 3600

    at = lambda h: (row["entry_seen_at"] + timedelta(hours=h)).isoformat()  # noqa: E731
    out = report(capsys, output, f"--now={at(47)}")
    assert f"to find: median {hours:.1f} h, 95th percentile {hours:.1f} h, worst {hours:.1f} h over 1 match(es)" in out
    assert "seen more than 48 h ago (at " in out and out.rstrip().endswith(": 0")
    out = report(capsys, output, f"--now={at(49)}", f"--clock_csv={tmp_path / 'late.csv'}")
    assert out.split("seen more than 48 h ago")[1].split("\n")[0].endswith(": 1")
    with open(tmp_path / "late.csv", newline="") as f:
        assert [(r["late"], r["verdict"], r["to_review_h"]) for r in csv.DictReader(f)] == [("True", "", "")]
    assert "E-790  seen 49.0 h ago, no verdict" in out
    assert report(capsys, output, f"--now={at(49)}", "--deadline_h=50").rstrip().endswith(": 0")

    match_id = out.split("E-790  seen")[0].split()[-1]
    assert cli.main(["review", output, f"--match={match_id}", "--verdict=false_match", "--reviewer=ana"]) == 0
    assert report(capsys, output, f"--now={at(49)}").rstrip().endswith(": 0")  # a false match is finished
    assert cli.main(["review", output, f"--match={match_id}", "--verdict=confirmed", "--reviewer=ana"]) == 0
    out = report(capsys, output, f"--now={at(49)}")  # confirmed, and not acted on: still late
    assert "found to verdict: median " in out and "E-790  seen 49.0 h ago, no action" in out
    assert "verdict to action: no match with both times" in out
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"rules:\n  - actions:\n      - copy_to: {tmp_path / 'quarantine'}\n")
    assert cli.main(["act", output, f"--rules={rules}", "--since=2000-01-01"]) == 0
    out = report(capsys, output, f"--now={at(49)}", f"--clock_csv={tmp_path / 'clock.csv'}")
    assert out.rstrip().endswith(": 0") and "verdict to action: median " in out
    with open(tmp_path / "clock.csv", newline="") as f:
        (clock,) = list(csv.DictReader(f))
    assert (clock["entry_id"], clock["verdict"], clock["late"]) == ("E-790", "confirmed", "False")
    assert clock["entry_seen_at"] < clock["found_at"] <= clock["reviewed_at"] <= clock["acted_at"]
    assert float(clock["to_find_h"]) == round(hours, 2) and float(clock["to_act_h"]) >= 0
    assert cli.main(["report", output, "--now=yesterday"]) == 2
