"""What a user runs: the sample scan with no arguments, the console script, config files."""
import glob
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from pipelines import cli, scan
from pipelines.config import config_flags, expand_config, load_config
from pipelines.options import JobOptions, option_parser
from tests.conftest import REPO, write


def test_no_arguments_scans_the_bundled_sample(capsys):
    assert scan.main([]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # stdout is the summary, nothing else
    run_dir = captured.err.strip().splitlines()[-1].removeprefix("takedown-scan: reports: ")
    assert run_dir.endswith(summary["run_id"])
    assert summary["listed"] == 6 and summary["hashed"] == 5 and summary["failed"] == 1
    assert summary["matched_objects"] == 3 and summary["matches"] == 4
    assert summary["registry_skipped_by_type"] == {"pdna": 1}
    matches = pq.ParquetDataset(os.path.join(run_dir, "matches")).read().to_pylist()
    found = sorted((os.path.basename(m["uri"]), m["entry_id"], m["signal_type"]) for m in matches)
    assert found == [
        ("beach.jpg", "NCII-77", "md5"),
        ("beach.jpg", "NCII-77", "pdq"),
        ("holiday.jpg", "TID-0001", "pdq"),
        ("profile-small.png", "TID-0002", "pdq"),
    ]
    (error,) = pq.ParquetDataset(os.path.join(run_dir, "errors")).read().to_pylist()
    assert os.path.basename(error["uri"]) == "broken.jpg" and error["reason"] == "truncated"


def test_console_script_runs_the_scan(corpus, tmp_path):
    output = tmp_path / "out"
    argv = ["scan", f"--media={corpus['media']}/unrelated", f"--registry={corpus['registry']}", f"--output={output}"]
    assert cli.main(argv) == 0
    assert len(glob.glob(str(output / "run=*" / "summary.json"))) == 1
    assert cli.main(["frobnicate"]) == 2


def test_scan_help_lists_the_scan_options():
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.scan", "--help"], capture_output=True, text=True, cwd=REPO, check=True
    )
    for option in ("--media", "--registry", "--output", "--pdq_threshold", "--max_pixels", "--config"):
        assert option in result.stdout


def test_config_flags_come_before_the_command_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("pdq_threshold: 20\nrescan_unchanged: true\nskip_me: false\nexperiments: [a, b]\n")
    argv = expand_config([f"--config={config}", "--pdq_threshold=25"])
    assert argv == ["--pdq_threshold=20", "--rescan_unchanged", "--experiments=a", "--experiments=b",
                    f"--config={config}", "--pdq_threshold=25"]
    options = scan.PipelineOptions(argv)
    assert options.view_as(JobOptions).pdq_threshold == 25 and options.view_as(scan.ScanOptions).rescan_unchanged


def test_the_local_config_states_the_built_in_defaults():
    local = load_config(os.path.join(REPO, "configs", "local.yaml"))
    options = scan.PipelineOptions(config_flags(local))
    defaults = scan.PipelineOptions([])
    for view, names in ((JobOptions, ("pdq_threshold", "min_quality", "max_registry_reject_share")),
                        (scan.ScanOptions, ("max_object_bytes", "max_pixels", "rescan_unchanged"))):
        for name in names:
            assert getattr(options.view_as(view), name) == getattr(defaults.view_as(view), name), name


def test_a_bad_config_is_a_usage_error(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("- just\n- a list\n")
    assert scan.main([f"--config={config}"]) == 2
    assert "is not a mapping" in capsys.readouterr().err


def test_stdout_is_the_summary_and_stderr_says_each_thing_once():
    result = subprocess.run([sys.executable, "-m", "pipelines.scan"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0
    assert json.loads(result.stdout)["listed"] == 6
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)) and any("takedown-scan: scanning" in line for line in lines), result.stderr


@pytest.mark.parametrize("argv, named", [
    (["--pdq-threshold", "0", "--no-dihedral"], "--pdq-threshold, --no-dihedral"),
    (["--mdia=/tmp/x"], "--mdia"),
])
def test_mistyped_options_exit_2_naming_them(argv, named, capsys):
    assert scan.main(argv + ["--registry=r", "--output=o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "unknown option" in err[0]


def test_a_mistyped_config_key_exits_2_naming_it(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("pdq_treshold: 20\n")
    assert scan.main([f"--config={config}", "--media=/tmp", "--registry=r", "--output=o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key(s) pdq_treshold" in err[0]


def test_every_config_key_works_like_its_flag(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("dihedral: false\nrescan_unchanged: false\nsave_main_session: false\nmin_quality: 60\n")
    options = scan.PipelineOptions(expand_config([f"--config={config}"], None, option_parser()))
    assert options.view_as(JobOptions).dihedral is False and options.view_as(JobOptions).min_quality == 60
    assert options.view_as(scan.ScanOptions).rescan_unchanged is False


def one_line_exit_2(argv, capsys) -> str:
    assert scan.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


SAMPLE_ARGS = [f"--media={REPO}/pipelines/sample/media", f"--registry={REPO}/pipelines/sample/registry"]


def test_an_unknown_runner_is_one_line(tmp_path, capsys):
    assert "Unexpected pipeline runner" in one_line_exit_2(SAMPLE_ARGS + [f"--output={tmp_path}", "--runner=NoSuchRunner"], capsys)


def test_an_output_that_cannot_be_written_stops_the_run_before_anything_is_read(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    message = one_line_exit_2(SAMPLE_ARGS + [f"--output={tmp_path}/file/reports"], capsys)
    assert "--output" in message and "not a writable folder" in message
    message = one_line_exit_2(SAMPLE_ARGS + [f"--output={tmp_path}/out", f"--hashes={tmp_path}/file/h"], capsys)
    assert "--hashes" in message and not (tmp_path / "out").exists()  # nothing written


def test_gcs_media_without_credentials_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud application-default credentials either
    argv = ["--media=gs://some-bucket/x", f"--registry={REPO}/pipelines/sample/registry", f"--output={tmp_path}"]
    assert "no Google credentials" in one_line_exit_2(argv, capsys)


def test_a_run_leaves_no_temporary_folders_and_clears_what_a_killed_one_left(tmp_path):
    scratch, output = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    killed = output / "run=20261130T010000Z-abcdef" / "matches" / "beam-temp-part-0123"
    write(str(killed / "part-0.parquet"), b"half a file")
    (scratch / "takedown-scan-tmp-999999999").mkdir()  # a killed run's scratch folder (no such process)
    env = {**os.environ, "TMPDIR": str(scratch)}
    argv = [sys.executable, "-m", "pipelines.scan", *SAMPLE_ARGS, f"--output={output}"]
    assert subprocess.run(argv, cwd=REPO, env=env, capture_output=True).returncode == 0
    assert list(scratch.iterdir()) == []
    assert not killed.exists() and killed.parent.exists()
    assert not glob.glob(str(output / "**" / "beam-temp*"), recursive=True)
