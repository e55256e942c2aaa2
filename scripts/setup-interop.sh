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
# dcc-mcp-core 0.13.6 (the envelope generation, issue 12) is not installed by default:
# PyPI holds no file of any release before 0.19.3 (https://pypi.org/simple/dcc-mcp-core/
# lists 0.19.3 … 0.20.49; https://pypi.org/pypi/dcc-mcp-core/0.13.6/json answers 404), so
# `pip install dcc-mcp-core==0.13.6` cannot succeed anywhere. Opt-in: with
# DCC_MCP_CORE_0136_SRC=<a checkout of tag v0.13.6 of github.com/loonghao/dcc-mcp-core>
# this script builds it (Rust toolchain needed, crates from crates.io; several minutes the
# first time, cached after) into .interop/dcc-mcp-core-0.13.6, and the interop tests that
# run the real 0.13.6 stop being skipped. See docs/DCC-MCP.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

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

# The opt-in build of 0.13.6 from source (see above). Debug profile: it compiles in a few
# minutes on two cores; the tests need correctness, not speed.
MATURIN=1.16.0
if [[ -n "${DCC_MCP_CORE_0136_SRC:-}" ]]; then
  src="$(cd "$DCC_MCP_CORE_0136_SRC" && pwd)"
  if ! grep -q '^version = "0.13.6"' "$src/pyproject.toml"; then
    echo "setup-interop: $src is not dcc-mcp-core 0.13.6 (pyproject.toml)" >&2
    exit 1
  fi
  dir=.interop/dcc-mcp-core-0.13.6
  want="dcc-mcp-core==0.13.6 (built from $src with maturin==$MATURIN) msgpack==$MSGPACK"
  if [[ -x "$dir/bin/python" && -f "$dir/.wirecall-installed" && "$(cat "$dir/.wirecall-installed")" == "$want" ]]; then
    echo "setup-interop: $dir ready ($want)"
  else
    echo "setup-interop: building $dir ($want)"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "maturin==$MATURIN" "msgpack==$MSGPACK"
    (cd "$src" && PATH="$root/$dir/bin:$PATH" "$root/$dir/bin/maturin" build --profile dev -i "$root/$dir/bin/python" -o "$root/$dir/wheels")
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$dir"/wheels/dcc_mcp_core-0.13.6-*.whl
    "$dir/bin/python" -c 'from dcc_mcp_core import IpcListener, connect_ipc, decode_envelope'
    printf '%s' "$want" >"$dir/.wirecall-installed"
  fi
fi
