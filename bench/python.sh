#!/usr/bin/env bash
# npm run bench:python — issue 13's Python pairings (python/bench/unary.py) as a Markdown table:
# the TS client against the Python server, the Python client against the TS server, beside a
# plain Python socket echo (same framing, same msgpack) as the limit. Uses the project's
# .venv-python (made as scripts/test-python.sh makes it; the package is reinstalled from
# ./python). Without a Python >= 3.9 it says so on one line and exits 0.
# Environment: N (calls per cell, default 10000), REPEAT (runs, median; default 3),
# PIPELINE (default 64), STREAMS=0 (skip the 64 KiB stream rows), PYTHON (interpreter),
# WIRECALL_TS_DIST (the TypeScript build to run, default dist/).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
venv=.venv-python

if [[ ! -x "$venv/bin/python" ]]; then
  if ! command -v "$PYTHON" >/dev/null 2>&1 || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    echo "bench:python: skipped (no Python >= 3.9 as \$PYTHON=$PYTHON)"
    exit 0
  fi
  echo "bench:python: creating $venv" >&2
  "$PYTHON" -m venv "$venv"
fi
if [[ ! -f "${WIRECALL_TS_DIST:-dist}/src/cli/main.js" ]]; then
  echo "bench:python: the TypeScript build is missing (run npm run build first)" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --force-reinstall --no-deps ./python >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input ./python >&2
REPEAT="${REPEAT:-3}" exec "$venv/bin/python" python/bench/unary.py --markdown
