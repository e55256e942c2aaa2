#!/usr/bin/env bash
# The Python package's tests (python/, issue 13): a virtual environment of the project's
# own (.venv-python, git-ignored) with the package installed from ./python as a user would
# (`pip install ./python`), the dev tools pinned in python/requirements-dev.txt (pytest, mypy),
# then `mypy --strict` over python/src (config: python/pyproject.toml [tool.mypy]; msgpack's
# types come from python/stubs) and the whole suite. MYPY=0 skips the type check. Its
# cross-language tests run the TypeScript build (dist/), so build first (npm test does).
# Idempotent: the venv is reused; the package is reinstalled every run, since its source is
# what is tested.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
venv=.venv-python

if [[ ! -x "$venv/bin/python" ]]; then
  echo "test-python: creating $venv"
  "$PYTHON" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r python/requirements-dev.txt
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --force-reinstall --no-deps ./python
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input ./python
if [[ ! -f dist/src/cli/main.js ]]; then
  echo "test-python: the TypeScript build is missing (run npm run build first)" >&2
  exit 1
fi
cd python
if [[ "${MYPY:-1}" != 0 ]]; then
  # Also as on Windows and macOS: their code paths (named pipes, no Unix sockets or getuid on
  # Windows) run on no machine of the project's, so the type check is what they get here.
  for platform in linux win32 darwin; do
    "../$venv/bin/python" -m mypy --strict --platform "$platform" src
  done
fi
exec "../$venv/bin/python" -m pytest -q "$@"
