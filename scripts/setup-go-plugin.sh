#!/usr/bin/env bash
# Builds the real go-plugin peers the wirecall/plugin-grpc interop tests run against
# (issue 16), under .interop/ (git-ignored). Idempotent and cached: each part is rebuilt
# only when its stamp (sources, versions) changes, so a second run takes well under a
# second.
#
#   .interop/go-plugin/bin/host     a go-plugin host (test/go-plugin/host)
#   .interop/go-plugin/bin/plugin   a go-plugin Go plugin (test/go-plugin/plugin)
#   .interop/pyvider-rpcplugin-<v>/ a venv with pyvider-rpcplugin from PyPI, which runs
#                                   test/go-plugin/python/greeter_plugin.py
#
# Needs Go >= 1.25 with the Go module proxy (github.com/hashicorp/go-plugin v1.8.0 and
# google.golang.org/grpc come from it), and python3 >= 3.11 with venv and PyPI
# (pyvider-rpcplugin 0.5.5 requires Python >= 3.11). No protoc: the Greeter service uses
# google.protobuf.StringValue and hand-written service descriptions.
# SKIP_PYVIDER=1 leaves the Python plugin out (its tests then skip, or fail with CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

GO="${GO:-go}"
PYTHON="${PYTHON:-python3}"
PYVIDER=0.5.5
out=.interop/go-plugin
mkdir -p "$out/bin"

# --- Go: the host and the plugin -------------------------------------------------------
if ! command -v "$GO" >/dev/null 2>&1; then
  echo "setup-go-plugin: no Go toolchain ($GO); install Go >= 1.25 (https://go.dev/dl/)" >&2
  exit 1
fi
gov="$("$GO" env GOVERSION)"
if ! printf '%s\n' "$gov" | grep -Eq '^go1\.(2[5-9]|[3-9][0-9])'; then
  echo "setup-go-plugin: $gov is too old: go-plugin v1.8.0 here needs Go >= 1.25" >&2
  exit 1
fi
stamp="$gov $(cat test/go-plugin/go.mod test/go-plugin/go.sum test/go-plugin/*/*.go | sha256sum | cut -c1-16)"
if [[ -x "$out/bin/host" && -x "$out/bin/plugin" && -f "$out/.stamp" && "$(cat "$out/.stamp")" == "$stamp" ]]; then
  echo "setup-go-plugin: $out/bin ready ($stamp)"
else
  echo "setup-go-plugin: building $out/bin/{host,plugin} with $gov (modules from $("$GO" env GOPROXY))"
  rm -f "$out/.stamp"
  (cd test/go-plugin && "$GO" build -trimpath -o "../../$out/bin/" ./host ./plugin)
  printf '%s' "$stamp" >"$out/.stamp"
fi

# --- Python: pyvider-rpcplugin in a venv -----------------------------------------------
if [[ "${SKIP_PYVIDER:-}" == "1" ]]; then
  echo "setup-go-plugin: SKIP_PYVIDER=1, no pyvider-rpcplugin venv"
  exit 0
fi
venv=".interop/pyvider-rpcplugin-$PYVIDER"
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup-go-plugin: pyvider-rpcplugin $PYVIDER needs Python >= 3.11; $("$PYTHON" --version 2>&1) found (PYTHON=... to pick another)" >&2
  exit 1
fi
want="pyvider-rpcplugin==$PYVIDER $("$PYTHON" --version 2>&1)"
if [[ -x "$venv/bin/python" && -f "$venv/.wirecall-installed" && "$(cat "$venv/.wirecall-installed")" == "$want" ]]; then
  echo "setup-go-plugin: $venv ready ($want)"
else
  echo "setup-go-plugin: creating $venv ($want)"
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "pyvider-rpcplugin==$PYVIDER"
  "$venv/bin/python" -c 'import pyvider.rpcplugin, grpc, google.protobuf.wrappers_pb2'
  printf '%s' "$want" >"$venv/.wirecall-installed"
fi
