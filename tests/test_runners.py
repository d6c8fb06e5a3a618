"""The same scan on other runners, checked as far as this machine allows: the Dataflow job built
offline (--dry_run) from configs/dataflow.yaml with buckets on the local GCS emulator; the bundled
sample end to end on the PortableRunner through Beam's local job service (the protocol a Flink
job server speaks); and the portable pipeline holding only transforms a Flink job server runs."""
import base64
import importlib.util
import glob
import os
import subprocess
import sys
import time
import zlib

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
import yaml
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2

from pipelines import scan
from pipelines.config import config_flags, expand_config
from tests.conftest import REPO
from tests.object_servers import free_port, gcs_client, gcs_server, upload_folder

SAMPLE = os.path.join(REPO, "pipelines", "sample")
# Leaf transforms a portable runner (Flink's job server) executes; anything else would be a
# Python-only shortcut that only the DirectRunner understands.
PORTABLE_PRIMITIVES = {
    "beam:transform:impulse:v1", "beam:transform:pardo:v1", "beam:transform:flatten:v1",
    "beam:transform:group_by_key:v1", "beam:transform:window_into:v1",
}
NAMED_STEPS = ("ListMedia", "PreviousRun", "SplitListing", "Hash", "Match", "MatchStored", "WriteHashStore",
               "WriteActive", "WriteMatches", "WriteErrors", "WriteEnded", "WriteSummary", "Commit")


def leaf_urns(proto) -> set:
    """URNs of the primitives; a leaf whose outputs are its inputs (Create's MaybeReshuffle of a
    single value) is an identity that portable runners drop, not a primitive."""
    return {
        t.spec.urn for t in proto.components.transforms.values()
        if not t.subtransforms and not set(t.outputs.values()) <= set(t.inputs.values())
    }


def top_level_names(proto) -> set:
    (root,) = proto.root_transform_ids
    return {proto.components.transforms[t].unique_name for t in proto.components.transforms[root].subtransforms}


def pickled_payloads(proto):
    """The DoFns and values the job carries, unpickled as far as bytes go (base64, zlib)."""
    for transform in proto.components.transforms.values():
        if transform.spec.urn != "beam:transform:pardo:v1":
            continue
        payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload).do_fn.payload
        try:
            payload = zlib.decompress(base64.b64decode(payload))
        except Exception:
            pass
        yield payload


@pytest.fixture(scope="module")
def buckets():
    with gcs_server() as endpoint:
        client = gcs_client()
        for name in ("media", "registry", "reports", "temp"):
            client.create_bucket(name)
        upload_folder(os.path.join(SAMPLE, "media"),
                      lambda key, data: client.bucket("media").blob(f"public/{key}").upload_from_string(data))
        upload_folder(os.path.join(SAMPLE, "registry"),
                      lambda key, data: client.bucket("registry").blob(f"tid/{key}").upload_from_string(data))
        yield endpoint


def dataflow_argv(*extra):
    return ["--media=gs://media/public", "--registry=gs://registry/tid", "--output=gs://reports/nightly",
            f"--config={REPO}/configs/dataflow.yaml", "--project=test-project", "--temp_location=gs://temp/beam",
            "--job_name=takedown-scan-test", "--no_auth", "--dry_run=True", *extra]


def test_the_dataflow_job_builds_offline_with_the_named_steps_and_no_data_in_it(buckets):
    options = scan.ScanOptions(expand_config(dataflow_argv(f"--setup_file={REPO}/setup.py")))
    FileSystems.set_options(options)
    plan = scan.plan_scan(options)
    p = beam.Pipeline(options=options)
    scan.build(p, options, plan)
    result = p.run()
    proto = p.runner.proto_pipeline
    assert set(NAMED_STEPS) <= top_level_names(proto)
    description = result.job.json()
    assert len(description) < 200_000  # the job carries locations, not data
    registry = [line.split(",")[2] for f in glob.glob(os.path.join(SAMPLE, "registry", "*", "*.csv"))
                for line in open(f).read().splitlines()[1:]]
    media = [open(path, "rb").read()[:48] for path in glob.glob(os.path.join(SAMPLE, "media", "**", "*.*"), recursive=True)]
    payloads = list(pickled_payloads(proto))
    assert payloads and registry and media
    for blob in payloads + [description.encode()]:
        assert not any(value.encode() in blob for value in registry)
        assert not any(head in blob for head in media)
    environment = proto.components.environments[next(iter(proto.components.environments))]
    assert any(a.role_urn.endswith("staging_to:v1") for a in environment.dependencies)  # the packaged project


def test_the_configs_hold_only_options_a_scan_knows():
    for name in ("local", "dataflow", "flink"):
        with open(os.path.join(REPO, "configs", f"{name}.yaml")) as f:
            config = yaml.safe_load(f)
        options = PipelineOptions(config_flags(config))
        unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
        assert unknown == set(), name


def test_the_portable_pipeline_holds_only_what_a_flink_job_server_runs(buckets):
    options = scan.ScanOptions(expand_config(dataflow_argv()))
    FileSystems.set_options(options)
    plan = scan.plan_scan(options)
    p = beam.Pipeline(options=PipelineOptions(["--runner=PortableRunner"]))
    scan.build(p, options, plan)
    proto = p.to_runner_api()
    assert leaf_urns(proto) <= PORTABLE_PRIMITIVES, leaf_urns(proto) - PORTABLE_PRIMITIVES
    assert set(NAMED_STEPS) <= top_level_names(proto)


def rows(run_dir, part):
    drop = ("run_id", "scanned_at", "found_at")  # the run and the moments each run made its rows
    table = pq.ParquetDataset(os.path.join(run_dir, part)).read().to_pylist()
    return sorted(tuple(sorted((k, str(v)) for k, v in r.items() if k not in drop)) for r in table)


def test_the_sample_on_the_portable_runner_equals_the_direct_runner(tmp_path):
    port = free_port()
    service = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main",
                                f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        outputs = {}
        for runner, flags in (("direct", []),
                              ("portable", ["--runner=PortableRunner", f"--job_endpoint=localhost:{port}",
                                            "--environment_type=LOOPBACK"])):
            output = str(tmp_path / runner)
            argv = [f"--media={SAMPLE}/media", f"--registry={SAMPLE}/registry", f"--output={output}", *flags]
            assert scan.main(argv) == 0
            (outputs[runner],) = glob.glob(os.path.join(output, "run=*"))
            assert os.path.exists(os.path.join(outputs[runner], "_SUCCESS"))
    finally:
        service.kill()
    for part in ("matches", "errors"):
        assert rows(outputs["portable"], part) == rows(outputs["direct"], part) and rows(outputs["direct"], part)


def test_a_launch_that_cannot_package_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    argv = [f"--media={SAMPLE}/media", f"--registry={SAMPLE}/registry", f"--output={tmp_path}"]
    assert scan.main(argv + [f"--setup_file={tmp_path}/missing.py"]) == 2
    assert "does not exist" in capsys.readouterr().err.strip().splitlines()[-1]
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "build" else real_find_spec(name, *a))
    assert scan.main(argv + [f"--setup_file={REPO}/setup.py"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e '.[dataflow]'" in err[0]
    assert not list(tmp_path.iterdir())


def test_the_flex_template_names_scan_options_with_working_regexes():
    import json
    import re

    with open(os.path.join(REPO, "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["name"] and metadata["description"]
    known = set(PipelineOptions([]).get_all_options())
    examples = {"media": "gs://media/public", "registry": "gs://registry/takeitdown", "output": "gs://reports/nightly",
                "hashes": "gs://reports/hashes", "inventory": "gs://inv/media/manifest.json", "pdq_threshold": "31",
                "min_quality": "50"}
    names = [parameter["name"] for parameter in metadata["parameters"]]
    assert {"media", "registry", "output"} <= set(names) and set(names) <= known
    for parameter in metadata["parameters"]:
        assert parameter["helpText"] and parameter["label"]
        assert all(re.match(r, examples[parameter["name"]]) for r in parameter["regexes"]), parameter["name"]
        assert not any(re.match(r, "gs://") for r in parameter["regexes"])
    with open(os.path.join(REPO, "Dockerfile")) as f:
        dockerfile = f.read()
    for path in re.findall(r"FLEX_TEMPLATE_PYTHON_\w+=/template/(\S+)", dockerfile):
        assert os.path.exists(os.path.join(REPO, path)), path
