"""What every Beam job of the project shares, from the command line to the exit status: --help,
--config and unknown options, the pipeline on the runner the options name, run ids, the checks of
where outputs go (made before anything is read), progress lines on stderr, a private temp folder,
the summary on stdout, and the exit-status rules: 0 when the run finished, 2 with one line when
it could not be done. A job module is its options, its plan and its `build`, handed to `launch`
as a `Job`.
"""
import glob
import importlib.util
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, List, Optional, Type

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, S3Options, SetupOptions

from pipelines.config import UsageError, expand_config
from pipelines.options import DEFAULT_CONFIG, JobOptions, option_parser, print_help
from transforms.registry.snapshots import RegistryRefused
from transforms.storage.objects import is_remote
from transforms.storage.stores import StoreError, Stores, StoreSettings, parse_location
from transforms.store.commits import StoreRefused, clear_leftovers

# What a job's plan may refuse with: one line, exit 2, nothing read.
REFUSALS = (UsageError, RegistryRefused, StoreRefused)


@dataclass(frozen=True)
class Job:
    """One Beam job: its name and options class, and the functions `launch` calls in turn."""

    name: str  # as in `takedown-scan NAME`
    description: str  # its --help's first paragraph
    options: Type[PipelineOptions]  # the job's own options (JobOptions' are shared)
    plan: Callable[[Any], Any]  # options -> plan (with its report folder, run_dir): checks and loads
    # before anything is read; may raise REFUSALS
    build: Callable[[beam.Pipeline, Any, Any], None]  # (pipeline, options, plan): named composites only
    announce: Callable[[Any, Any], str]  # (options, plan) -> the line said before the run
    leftovers: Callable[[Any, Any], Iterable[str]] = lambda options, plan: ()  # roots to clear of dead runs' files
    no_arguments: Optional[Callable[[], List[str]]] = None  # the arguments (and a note) when none are given


def launch(job: Job, argv: Optional[List[str]] = None) -> int:
    """Run the job on the command line `argv`; its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    show_progress()
    try:
        if not argv and job.no_arguments is not None:
            argv = job.no_arguments()
        # The job's class, not PipelineOptions: Beam's base class parses with an empty parser, so
        # its --help would list nothing. Beam's own options still apply through view_as.
        if "-h" in argv or "--help" in argv:
            print_help(f"takedown-scan {job.name}", job.description, job.options, JobOptions)
            return 0
        options = job.options(expand_config(argv, DEFAULT_CONFIG, option_parser()))
        FileSystems.set_options(options)  # the registry may be on s3:// behind --s3_endpoint_url
        p = new_pipeline(options)
        plan = job.plan(options)
    except REFUSALS as e:
        print(f"takedown-scan: {e}", file=sys.stderr)
        return 2
    logging.getLogger("takedown_scan").info("%s", job.announce(options, plan))
    for root in job.leftovers(options, plan):
        clear_leftovers(root)
    job.build(p, options, plan)
    run_dir = plan.run_dir
    with private_temp_dir():
        result = p.run()
        if os.environ.get("FLEX_TEMPLATE_PYTHON_PY_FILE"):  # a Flex Template launcher submits and returns
            print(f"Submitted; reports: {run_dir}", file=sys.stderr)
            return 0
        result.wait_until_finish()
    print_summary(run_dir)
    print(f"takedown-scan: reports: {run_dir}", file=sys.stderr)
    return 0


def new_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """The pipeline on the runner the options name; an unknown runner is a UsageError."""
    try:
        return beam.Pipeline(options=options)
    except ValueError as e:
        raise UsageError(f"--runner: {e}") from None


def new_run_id(now: datetime) -> str:
    """Sortable by time (UTC), unique across runs started in the same second."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_packaging(options: PipelineOptions) -> None:
    """A --setup_file launch packages the project with `python -m build` (Beam's stager): check
    that it can, before anything is read, instead of failing (or falling back) half-way."""
    setup_file = options.view_as(SetupOptions).setup_file
    if not setup_file:
        return
    if not os.path.isfile(setup_file):
        raise UsageError(f"--setup_file {setup_file} does not exist")
    if importlib.util.find_spec("build") is None:
        raise UsageError("--setup_file needs the build package where the job is launched: "
                         "pip install -e '.[dataflow]'")


def store_settings(options: PipelineOptions, attempts: int = StoreSettings.attempts,
                   object_timeout_s: float = StoreSettings.object_timeout_s) -> StoreSettings:
    """How the jobs reach gs:// and s3:// (Beam's S3 options, and the scan's read settings)."""
    s3 = options.view_as(S3Options)
    return StoreSettings(s3_endpoint_url=s3.s3_endpoint_url, s3_region_name=s3.s3_region_name,
                         attempts=attempts, object_timeout_s=object_timeout_s)


def check_bucket(settings: StoreSettings, option: str, uri: str) -> None:
    """The bucket of `uri` exists and answers with these credentials; else a UsageError."""
    try:
        location = parse_location(uri)
        Stores(settings).get(location.scheme).check_bucket(location.bucket)
    except (ValueError, StoreError) as e:
        raise UsageError(f"{option} {uri}: {e}") from None


def check_writable(settings: StoreSettings, option: str, uri: str) -> None:
    """Where reports or hashes go must take them, checked before any media is read and without
    writing anything: a local folder that is (or can be made in) a writable folder, or a bucket
    that exists and answers with these credentials."""
    if is_remote(uri):
        check_bucket(settings, option, uri)
        return
    existing = os.path.abspath(uri)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"{option} {uri} is not a writable folder: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {uri} is not a writable folder: {existing} is not writable")


def print_summary(run_dir: str) -> None:
    """A run's summary.json on stdout, the jobs' only output there (a runner that does not wait
    has not written it yet: then nothing)."""
    path = FileSystems.join(run_dir, "summary.json")
    if FileSystems.exists(path):
        with FileSystems.open(path) as f:
            print(json.dumps(json.load(f), indent=2, sort_keys=True))


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the line, not the one of its creation."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def show_progress() -> None:
    """Progress lines of the workers (in this process on the DirectRunner) on stderr, once: not
    passed on to the root logger, which Beam gives a handler of its own."""
    logger = logging.getLogger("takedown_scan")
    if not logger.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("takedown-scan: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


TEMP_PREFIX = "takedown-scan-tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def private_temp_dir():
    """Run with TMPDIR (and Python's tempfile) in a folder of this process's own, removed at the
    end: the runner's scratch folders (artifact staging, job folders) go there instead of being
    left in /tmp. The folders of runs that were killed (their process is gone) are removed first."""
    base = tempfile.gettempdir()
    for stale in glob.glob(os.path.join(base, TEMP_PREFIX + "*")):
        suffix = stale.rsplit("-", 1)[-1]
        if suffix.isdigit() and not _alive(int(suffix)):
            shutil.rmtree(stale, ignore_errors=True)
    path = os.path.join(base, f"{TEMP_PREFIX}{os.getpid()}")
    os.makedirs(path, exist_ok=True)
    saved = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = path, path
    try:
        yield path
    finally:
        if saved[0] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[0]
        tempfile.tempdir = saved[1]
        shutil.rmtree(path, ignore_errors=True)
