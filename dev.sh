#!/usr/bin/env bash
# The project's two set-up commands (see README): `./dev.sh sample` scans the bundled sample,
# `./dev.sh test` runs the tests (and installs Debian's chromium for the review page test). Either first makes the virtual environment .venv (or
# $TAKEDOWN_VENV) and installs the project with its test extras: once, and again when setup.py
# changes. Further arguments go to the scan or to pytest. `./dev.sh bench NAME` also installs
# benchmarks/requirements.txt (the baseline, python-threatexchange) and runs benchmarks/NAME.py.
set -euo pipefail
cd "$(dirname "$0")"
venv=${TAKEDOWN_VENV:-.venv}
stamp="$venv/.installed-$(sha256sum setup.py | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing takedown-scan and its dependencies into $venv (a few minutes the first time)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -e ".[test]"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
command=${1:-}
shift || true
case "$command" in
  sample) exec "$venv/bin/python" -m pipelines.scan "$@" ;;
  test)
    # The review page test opens the page in Debian's chromium: installed here where apt-get runs
    # as root (the test is skipped, saying so, where it cannot be).
    if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "Installing Debian's chromium for the review page test..." >&2
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || echo "chromium could not be installed: the review page test will be skipped" >&2
    fi
    exec "$venv/bin/python" -m pytest "$@" ;;
  bench)
    name=${1:?usage: ./dev.sh bench NAME [arguments]}
    shift
    "$venv/bin/python" -m pip install --quiet -r benchmarks/requirements.txt
    exec "$venv/bin/python" -m "benchmarks.$name" "$@" ;;
  *) echo "usage: ./dev.sh sample|test|bench [arguments]" >&2; exit 2 ;;
esac
