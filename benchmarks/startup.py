"""How fast the commands that run no pipeline start: each command in a new process, against the
same command with every command module imported first (the console script did that before each
command was imported only when it runs: Apache Beam, numba and the decoders came with it).

An output to report on is made first by scanning the bundled sample. Printed per command: the
median wall and CPU seconds of --runs runs, ours and the baseline's, and their ratio.

    python -m benchmarks.startup [--runs 5]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from pipelines.scan import SAMPLE

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = "import sys; {imports}from pipelines import cli; sys.argv = ['takedown-scan'] + sys.argv[1:]; cli.run()"
EVERY_MODULE = "import pipelines.scan, pipelines.rematch, pipelines.compact, pipelines.sync, pipelines.tmk; "


def timed(argv, imports: str):
    """(wall s, CPU s) of one command in a new process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", RUN.format(imports=imports), *argv], cwd=HERE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise SystemExit(f"{argv} exited with {status}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="startup-")
    output = os.path.join(base, "out")
    subprocess.run([sys.executable, "-m", "pipelines.scan", f"--media={os.path.join(SAMPLE, 'media')}",
                    f"--registry={os.path.join(SAMPLE, 'registry')}", f"--output={output}"], cwd=HERE, check=True,
                   capture_output=True)
    commands = [["--help"], ["report", "--help"], ["report", output, f"--csv={base}/queue.csv"],
                ["review", "--help"], ["serve", "--help"], ["act", "--help"], ["feedback", output, "--to=stopncii", f"--out={base}/feedback"]]
    print(f"{'command':<36} {'wall s':>7} {'CPU s':>7} | {'baseline wall':>13} {'CPU':>6} | {'ratio wall':>10} {'CPU':>6}")
    for command in commands:
        ours, theirs = [], []
        for _ in range(args.runs):  # in turns, so that both see the same load
            ours.append(timed(command, ""))
            theirs.append(timed(command, EVERY_MODULE))
        (wall, cpu), (base_wall, base_cpu) = [[statistics.median(x) for x in zip(*runs)] for runs in (ours, theirs)]
        name = " ".join(command).replace(output, "OUTPUT").replace(base, "DIR")
        print(f"{name[:36]:<36} {wall:7.2f} {cpu:7.2f} | {base_wall:13.2f} {base_cpu:6.2f} | "
              f"{wall / base_wall:10.2f} {cpu / base_cpu:6.2f}")
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
