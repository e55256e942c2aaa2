"""``python -m wirecall``: serve, call, ping; against each other and against the TS CLI."""

from __future__ import annotations

import subprocess
import sys
from typing import Iterator, List

import pytest

from conftest import REPO, TS_CLI, requires_node

PY = [sys.executable, "-m", "wirecall"]


@pytest.fixture()
def py_serve() -> Iterator[str]:
    p = subprocess.Popen(PY + ["serve", "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()  # type: ignore[union-attr]
    assert line.startswith("listening on tcp://127.0.0.1:"), line
    yield line[len("listening on ") :]
    p.terminate()
    assert p.wait(10) == 0


def cli(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(PY + args, capture_output=True, text=True, timeout=30)


def test_call_ping_and_errors(py_serve: str) -> None:
    r = cli(["call", py_serve, "add", '{"a":2,"b":3}'])
    assert (r.returncode, r.stdout) == (0, "5\n")
    r = cli(["call", py_serve, "echo", '{"x":[1,"y",null]}'])
    assert r.stdout == '{"x":[1,"y",null]}\n'
    r = cli(["call", "--stream", py_serve, "count", '{"n":3}'])
    assert r.stdout.split() == ["0", "1", "2"]
    r = cli(["call", py_serve, "nope"])
    assert (r.returncode, r.stderr.strip()) == (1, "error: METHOD_NOT_FOUND: method not found: nope")
    r = cli(["call", py_serve, "sleep", '{"ms":2000}', "--timeout", "100"])
    assert r.returncode == 4 and r.stderr.startswith("error: ERR_DEADLINE_EXCEEDED")
    r = cli(["call", py_serve, "add", "{not json"])
    assert r.returncode == 2
    r = cli(["call", "tcp://127.0.0.1:1", "add"])
    assert r.returncode == 3 and "ERR_CONNECTION_FAILED" in r.stderr
    r = subprocess.run(PY + ["call", "--client-stream", py_serve, "sum"], input="1\n2\n\n3\n", capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, "6\n")
    r = subprocess.run(PY + ["call", "--bidi", py_serve, "chat"], input='"a"\n{"b":1}\n', capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, '"a"\n{"b":1}\n')
    r = subprocess.run(PY + ["call", "--client-stream", py_serve, "sum"], input="1\nnot json\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    r = cli(["call", py_serve, "countdown", '{"from":2}'])
    assert (r.returncode, r.stdout) == (0, '{"from":2,"acks":["ack 2","ack 1"]}\n')
    assert 'countdown.tick {"n":2} -> "ack 2"' in r.stderr
    r = cli(["notify", py_serve, "note", '{"from":"cli"}'])
    assert r.returncode == 0
    r = cli(["call", py_serve, "notes"])
    assert r.stdout == '[{"from":"cli"}]\n'
    r = cli(["ping", py_serve, "--count", "2", "--interval", "10"])
    assert r.returncode == 0 and r.stdout.startswith(f"pong from {py_serve}: time=") and "min/avg/max" in r.stdout


@requires_node
def test_ts_cli_against_python_serve_and_python_cli_against_ts_serve(py_serve: str) -> None:
    r = subprocess.run(["node", str(TS_CLI), "call", py_serve, "add", '{"a":1,"b":2}'], capture_output=True, text=True, timeout=30, cwd=str(REPO))
    assert (r.returncode, r.stdout) == (0, "3\n")
    ts = subprocess.Popen(["node", str(TS_CLI), "serve", "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        ep = ts.stdout.readline().strip()[len("listening on ") :]  # type: ignore[union-attr]
        r = cli(["call", ep, "add", '{"a":1,"b":2}'])
        assert (r.returncode, r.stdout) == (0, "3\n")
        r = cli(["ping", ep])
        assert r.returncode == 0
    finally:
        ts.terminate()
        ts.wait(10)
