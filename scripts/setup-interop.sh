#!/usr/bin/env bash
# Installs the real dcc-mcp-core peers the interop tests run against (issue 12), into
# Python virtual environments under .interop/ (git-ignored). Idempotent and cached: a
# venv whose stamp file names exactly the wanted requirements is reused as it is, so a
# second run takes well under a second. Needs python3 (>= 3.8) with venv, and PyPI.
#
# Versions are pinned, not "latest": the interop tests assert facts about one exact
# release (its API, its formats), and dcc-mcp-core publishes often (0.20.x has had dozens
# of releases); an unpinned install would change what CI tests without a commit here.
# To move to a newer release, change LATEST below and run this script again.
#
# dcc-mcp-core 0.13.6 (the envelope generation, issue 12) is NOT installed: PyPI holds no
# file of any release before 0.19.3 (https://pypi.org/simple/dcc-mcp-core/ lists
# 0.19.3 … 0.20.49; https://pypi.org/pypi/dcc-mcp-core/0.13.6/json answers 404), so
# `pip install dcc-mcp-core==0.13.6` cannot succeed anywhere. See docs/DCC-MCP.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# The latest dcc-mcp-core on PyPI when this was written (2026-11-28).
LATEST=0.20.49
# An independent MessagePack implementation (the one the reference's byte vectors were
# checked with) for the envelope cross-checks, since no installable dcc-mcp-core speaks it.
MSGPACK=1.2.4

setup_venv() {
  local dir="$1"
  shift
  local want="$*"
  if [[ -x "$dir/bin/python" && -f "$dir/.wirecall-installed" && "$(cat "$dir/.wirecall-installed")" == "$want" ]]; then
    echo "setup-interop: $dir ready ($want)"
    return 0
  fi
  echo "setup-interop: creating $dir ($want)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
  "$dir/bin/python" -c 'import dcc_mcp_core, msgpack'
  printf '%s' "$want" >"$dir/.wirecall-installed"
}

mkdir -p .interop
setup_venv ".interop/dcc-mcp-core-$LATEST" "dcc-mcp-core==$LATEST" "msgpack==$MSGPACK"
