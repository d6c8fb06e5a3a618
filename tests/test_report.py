"""`takedown-scan report` and `review` over real scans of the bundled sample: the summary, the
review queue as CSV with stable match ids, the flood guard, two nights (a withdrawal), verdicts,
one-line errors, and the review page opened in real headless Chromium."""
import csv
import json
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse

import pytest

from pipelines import cli, scan
from pipelines.scan import SAMPLE
from tests.conftest import REPO, write

HOLIDAY = os.path.join(SAMPLE, "media", "uploads", "2026", "holiday.jpg")  # TID-0001's picture


def report(capsys, *argv):
    capsys.readouterr()
    status = cli.main(["report", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Night 1: the sample plus four more copies of TID-0001's picture; night 2: NCII-77 withdrawn;
    night 3: one new copy of TID-0002's picture."""
    root = tmp_path_factory.mktemp("report")
    media, registry, output = root / "media", root / "registry", root / "out"
    shutil.copytree(os.path.join(SAMPLE, "media"), media)
    for i in range(4):
        shutil.copy(HOLIDAY, media / "uploads" / f"again-{i}.jpg")
    shutil.copytree(os.path.join(SAMPLE, "registry"), registry)
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    (first,) = os.listdir(registry)
    with open(registry / first / "hashes.csv") as f:
        kept = [line for line in f if not line.startswith("NCII-77,")]
    write(str(registry / "2026-12-01T0300Z" / "hashes.csv"), "".join(kept).encode())
    write(str(registry / "2026-12-01T0300Z" / "_SUCCESS"), b"")
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    shutil.copy(os.path.join(SAMPLE, "media", "uploads", "2026", "profile-small.png"), media / "uploads" / "new.png")
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    runs = sorted(d.removeprefix("run=") for d in os.listdir(output) if d.startswith("run="))
    return {"output": str(output), "runs": runs}


def test_the_summary_and_the_queue_of_the_first_night(nights, capsys, tmp_path):
    queue_csv = tmp_path / "queue.csv"
    status, out, err = report(capsys, nights["output"], f"--run={nights['runs'][0]}", f"--csv={queue_csv}")
    assert status == 0, err
    assert "objects: 10 listed = 0 unchanged + 9 hashed + 1 failed" in out
    assert "registry: version 2026-11-01T0300Z, 3 entries, 0 rows rejected, skipped by type: {'pdna': 1}" in out
    assert "matches: 8 (8 to review, 0 held back), withdrawn: 0" in out
    assert "        5  TID-0001" in out and "        1  decode/truncated" in out
    rows = list(csv.DictReader(open(queue_csv)))
    assert len(rows) == 8 and len({r["match_id"] for r in rows}) == 8
    assert {"match_id", "uri", "object_version", "entry_id", "signal_type", "distance", "found_by", "run_id",
            "source", "classification"} <= set(rows[0])
    again = tmp_path / "again.csv"
    assert report(capsys, nights["output"], f"--run={nights['runs'][0]}", f"--csv={again}")[0] == 0
    assert [r["match_id"] for r in csv.DictReader(open(again))] == [r["match_id"] for r in rows]


def test_the_flood_guard_holds_back_an_entry_that_matches_too_many_objects(nights, capsys, tmp_path):
    queue_csv = tmp_path / "queue.csv"
    status, out, err = report(capsys, nights["output"], f"--run={nights['runs'][0]}", f"--csv={queue_csv}",
                              "--max_matches_per_entry=3")
    assert status == 0, err
    assert "matches: 8 (3 to review, 5 held back)" in out
    assert f"  TID-0001: 5 objects in run {nights['runs'][0]}; {{'source': 'take_it_down'" in out
    rows = list(csv.DictReader(open(queue_csv)))
    assert len(rows) == 3 and "TID-0001" not in {r["entry_id"] for r in rows}


def test_three_nights_the_withdrawal_and_the_new_copy(nights, capsys):
    first, second, third = nights["runs"]
    status, out, err = report(capsys, nights["output"], f"--run={second}")
    assert status == 0, err
    assert "withdrawn: 2" in out and "        2  NCII-77" in out.split("withdrawn by entry:")[1]
    assert "objects: 10 listed = 9 unchanged + 0 hashed + 1 failed" in out  # a failed object is tried again
    assert "matches: 0 " in out  # standing matches are not reported again
    status, out, err = report(capsys, nights["output"])  # the latest night only
    assert status == 0 and out.startswith(f"takedown-scan report: 1 run(s), {third}\n")
    assert "matches: 1 (1 to review" in out and "        1  TID-0002" in out
    status, out, err = report(capsys, nights["output"], f"--since={first[:4]}-{first[4:6]}-{first[6:8]}")
    assert status == 0 and out.startswith(f"takedown-scan report: 3 run(s), {first} .. {third}")
    assert "matches: 9 (9 to review, 0 held back), withdrawn: 2" in out


def test_bad_report_requests_are_one_line_and_exit_2(nights, capsys, tmp_path):
    for argv in ([str(tmp_path / "nothing")], [nights["output"], "--run=20990101T000000Z-000000"],
                 [nights["output"], "--since=yesterday"], [nights["output"], "--run=x", "--since=2026-01-01"],
                 [nights["output"], "--max_matches_per_entry=0"]):
        status, out, err = report(capsys, *argv)
        assert status == 2 and out == "" and err.count("\n") == 1, (argv, err)


def test_the_console_script_lists_every_command_and_each_has_its_help(capsys):
    assert cli.main(["--help"]) == 0
    listed = capsys.readouterr().out
    for command in ("scan", "rematch", "sync", "report", "review", "serve", "act", "feedback"):
        assert f"\n  {command} " in listed
    for command in (["report"], ["review"], ["serve"], ["act"], ["feedback"], ["sync"], ["sync", "ncmec"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main([*command, "--help"])
        assert exit_.value.code == 0


def test_reviews_are_recorded_append_only_and_leave_the_queue(nights, capsys, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(nights["output"], output)
    first = tmp_path / "first.csv"
    assert report(capsys, str(output), f"--run={nights['runs'][0]}", f"--csv={first}")[0] == 0
    rows = list(csv.DictReader(open(first)))
    false_match, confirmed = rows[0]["match_id"], rows[1]["match_id"]
    capsys.readouterr()
    assert cli.main(["review", str(output), f"--match={false_match}", "--verdict=confirmed", "--reviewer=ana"]) == 0
    assert cli.main(["review", str(output), f"--match={false_match}", "--verdict=false_match", "--note=a logo",
                     "--reviewer=ben"]) == 0
    assert cli.main(["review", str(output), f"--match={confirmed}", "--verdict=confirmed", "--reviewer=ana"]) == 0
    assert len(os.listdir(output / "reviews")) == 3  # every verdict kept
    later = tmp_path / "later.csv"
    status, out, err = report(capsys, str(output), "--since=2000-01-01", f"--csv={later}")
    assert status == 0, err
    assert "reviewed: 1 confirmed, 1 false_match" in out
    assert not {false_match, confirmed} & {r["match_id"] for r in csv.DictReader(open(later))}
    for argv in (["--match=0000000000000000", "--verdict=confirmed"], [f"--match={confirmed}", "--verdict=maybe"]):
        status, out, err = (cli.main(["review", str(output), *argv]), *capsys.readouterr())
        assert status == 2 and err.count("\n") == 1
    assert len(os.listdir(output / "reviews")) == 3


CHROMIUM = shutil.which("chromium")
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium(page, profile, *flags):
    """Debian's chromium, headless, on a file:// page; its stdout."""
    result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, page],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def shown_entries(dom):
    """The entry of every row of the queue table, and whether the page shows it."""
    table = dom[dom.index('id="queue"'):]
    table = table[:table.index("</table>")]
    return [(m.group(1), m.group(2) is None) for m in re.finditer(r'<tr data-entry="([^"]*)"( hidden="")?>', table)]


# Chromium's own service calls (component updates, network time, sign-in), made whatever page it
# shows; any other request through the proxy came from the page.
BROWSER_HOSTS = {"update.googleapis.com", "clients2.google.com", "accounts.google.com"}


def page_requests(requests):
    hosts = [(urllib.parse.urlsplit(r).hostname if "://" in r else r.rsplit(":", 1)[0], r) for r in requests]
    return [r for host, r in hosts if host not in BROWSER_HOSTS]


class Recorder:
    """An HTTP proxy that answers nothing and records every request sent through it."""

    def __init__(self):
        recorder = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                recorder.requests.append(self.path)
                self.send_response(404)
                self.end_headers()

            do_CONNECT = do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.flag = f"--proxy-server=http://127.0.0.1:{self.server.server_address[1]}"


NO_PIPELINE = """
import json, sys
from pipelines import cli
output, out = sys.argv[1], sys.argv[2]
open(f"{out}/rules.yaml", "w").write("rules:\\n  - actions:\\n      - copy_to: s3://quarantine/\\n")
statuses = [cli.main(["report", output, f"--csv={out}/queue.csv", f"--html={out}/page.html"])]
match = open(f"{out}/queue.csv").readlines()[1].split(",")[0]
statuses.append(cli.main(["review", output, f"--match={match}", "--verdict=confirmed", "--reviewer=ana"]))
statuses.append(cli.main(["feedback", output, "--to=stopncii", f"--out={out}"]))
import pipelines.serve  # noqa: F401,E402 -- the review desk's command, up to serving
statuses.append(cli.main(["act", output, f"--rules={out}/rules.yaml", "--dry_run", "--since=2000-01-01"]))
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"apache_beam", "numba", "av", "PIL"})
print(json.dumps({"statuses": statuses, "heavy": heavy}))
"""


def test_the_commands_that_run_no_pipeline_import_neither_beam_nor_the_decoders(nights, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(nights["output"], output)
    done = subprocess.run([sys.executable, "-c", NO_PIPELINE, str(output), str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"statuses": [0, 0, 0, 0], "heavy": []}


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (./dev.sh test installs it with "
                                             "apt-get where it runs as root); the review page is not opened")
def test_the_review_page_in_headless_chromium(nights, capsys, tmp_path):
    page = tmp_path / "review.html"
    status, out, err = report(capsys, nights["output"], f"--run={nights['runs'][0]}", f"--html={page}")
    assert status == 0, err
    text = page.read_text()
    assert "<img" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    every = shown_entries(chromium(f"file://{page}", tmp_path / "p1", "--dump-dom"))
    assert len(every) == 8 and all(shown for _, shown in every)  # every unreviewed match, shown
    filtered = shown_entries(chromium(f"file://{page}#filter=TID-0001", tmp_path / "p2", "--dump-dom"))
    assert sorted(e for e, shown in filtered if shown) == ["TID-0001"] * 5
    assert len(filtered) == 8
    for order, descending in (("-distance", True), ("distance", False)):
        dom = chromium(f"file://{page}#sort={order}&filter=", tmp_path / f"p-{order}", "--dump-dom")
        queue = dom[dom.index('id="queue"'):]
        distances = [int(d) for d in re.findall(r'<td class="num">(\d+)</td>', queue[:queue.index("</table>")])]
        assert len(distances) == 8 and distances == sorted(distances, reverse=descending) != sorted(distances, reverse=not descending)
    # nothing leaves the page: the proxy that would see any request sees none, and sees the control's
    proxy = Recorder()
    chromium(f"file://{page}", tmp_path / "p3", proxy.flag, "--dump-dom")
    assert page_requests(proxy.requests) == []
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="http://203.0.113.9/pixel.png"></body></html>')
    chromium(f"file://{control}", tmp_path / "p4", proxy.flag, "--dump-dom", "--virtual-time-budget=3000")
    assert page_requests(proxy.requests), "the proxy saw no request even from a page that makes one"
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "review-page.png")
    chromium(f"file://{page}", tmp_path / "p5", "--window-size=1280,900", f"--screenshot={shot}")
    assert os.path.getsize(shot) > 10_000


def readme_section(title):
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")) as f:
        text = f.read()
    section = text[text.index(f"## {title}"):]
    return section[:section.index("\n## ", 1)]


def athena_type(arrow_type):
    import pyarrow as pa

    for test, name in ((pa.types.is_timestamp, "timestamp"), (pa.types.is_int32, "int"), (pa.types.is_float64, "double"),
                       (pa.types.is_boolean, "boolean"), (pa.types.is_string, "string")):
        if test(arrow_type):
            return name
    raise AssertionError(f"no Athena type for {arrow_type}")


def test_the_partitions_read_in_duckdb_and_the_athena_tables_match_the_schemas(nights):
    import duckdb

    from transforms.schemas import ERROR_SCHEMA, WITHDRAWN_SCHEMA, match_schema

    for part in ("matches", "errors", "withdrawn"):
        rows = duckdb.sql(f"SELECT run, run_id FROM read_parquet('{nights['output']}/run=*/{part}/*.parquet', "
                          "hive_partitioning = true)").fetchall()
        assert rows and all(run == run_id for run, run_id in rows), part
    section = readme_section("The reports in other engines")
    ddl = section[section.index("CREATE EXTERNAL TABLE takedown_matches ("):section.index("PARTITIONED BY")]
    columns = " ".join(line for line in ddl.splitlines()[1:] if not line.strip().startswith(("--", ")")))
    expected = ", ".join(f"{f.name} {athena_type(f.type)}" for f in match_schema(()))
    assert " ".join(columns.split()) == expected
    prose = " ".join(section.split())
    for schema in (ERROR_SCHEMA, WITHDRAWN_SCHEMA):
        assert ", ".join(f"{f.name} {athena_type(f.type)}" for f in schema) in prose.replace("`", "")
