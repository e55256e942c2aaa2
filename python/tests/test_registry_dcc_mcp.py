"""One registry directory shared by the Python registry and the real dcc-mcp-core (the venv
`npm run setup:interop` makes under .interop/): their locks exclude each other, and each
side judges the other's rows by their sentinel lock files.

dcc-mcp-core's side is src/manager/registry/fixtures/dcc_mcp_worker.py (an McpHttpServer
registered through its own Rust FileRegistry, heartbeating every second). Skipped without
the venv (failed with CI=true)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from registry_support import IN_CI, PATIENT, ROOT, TS_FIXTURES, Children, child_env, read_rows, wait_for  # noqa: E402

from wirecall.registry import FileRegistry  # noqa: E402

with open(os.path.join(ROOT, "scripts", "setup-interop.sh"), encoding="utf-8") as _f:
    LATEST = re.search(r"^LATEST=(\S+)$", _f.read(), re.M).group(1)  # type: ignore[union-attr]
DCC_PYTHON = os.path.join(ROOT, ".interop", f"dcc-mcp-core-{LATEST}", "bin", "python")
WORKER = os.path.join(TS_FIXTURES, "dcc_mcp_worker.py")
INSTALLED = os.path.exists(DCC_PYTHON)

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.skipif(not INSTALLED and not IN_CI, reason="dcc-mcp-core shared registry: run `npm run setup:interop` first"),
]

PER_SIDE = 5


@pytest.fixture
def children():
    c = Children()
    yield c
    c.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(children: Children, d: str, gateway_port: int, dcc_type: str):  # type: ignore[no-untyped-def]
    assert INSTALLED, "dcc-mcp-core shared registry: run `npm run setup:interop` first"
    env = dict(os.environ, RUST_LOG="warn", **PATIENT)
    env.pop("PYTHONPATH", None)
    return children.start([DCC_PYTHON, WORKER, d, str(gateway_port), dcc_type], env=env)


def dcc_mcp_sees_alive(d: str) -> dict:
    """dcc-mcp-core's own reader: query_runtime_state (sentinel first, then pid) -> runtime_alive per instance."""
    code = (
        "import json, sys\nfrom dcc_mcp_core.install_lifecycle import query_runtime_state\n"
        "s = query_runtime_state(sys.argv[1])\nprint(json.dumps({e['instance_id']: e['runtime_alive'] for e in s['entries']}))"
    )
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([DCC_PYTHON, "-c", code, d], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ids(rows: list, dcc_type=None) -> list:  # type: ignore[no-untyped-def]
    return sorted(r["instance_id"] for r in rows if dcc_type is None or r["dcc_type"] == dcc_type)


def test_dcc_mcp_core_and_python_processes_registering_at_once(tmp_path, children):
    d = str(tmp_path)
    port = free_port()
    started = time.monotonic()
    theirs = [worker(children, d, port, "maya") for _ in range(PER_SIDE)]
    env = child_env(**PATIENT)
    ours = [children.registrant(d, "blender", f"tcp://127.0.0.1:{23000 + i}", "10", "150", env=env) for i in range(PER_SIDE)]
    their_ids = [c.expect("READY ", timeout=60).split()[1] for c in theirs]
    our_ids = [c.expect("READY ", timeout=60).split()[1] for c in ours]
    for c in ours:
        c.expect("BEATEN", timeout=60)
    time.sleep(1.1)  # one more heartbeat round of dcc-mcp-core's

    rows = read_rows(d)
    assert ids(rows, "maya") == sorted(their_ids)
    assert ids(rows, "blender") == sorted(our_ids)
    assert len([r for r in rows if r["dcc_type"] == "__gateway__"]) == 1
    assert len(rows) == 2 * PER_SIDE + 1
    warnings: list = []
    assert sorted(e.instance_id for e in FileRegistry(d, on_warning=warnings.append).list_all()) == ids(rows)
    assert warnings == []
    seen = dcc_mcp_sees_alive(d)
    for i in our_ids:
        assert seen[i] is True, f"dcc-mcp-core sees our row {i} alive"

    for c in ours + theirs:
        c.close_stdin()
    for c in ours + theirs:
        c.expect("DONE", timeout=60)
    assert read_rows(d) == []
    assert [f for f in os.listdir(os.path.join(d, "locks")) if f.startswith("blender-")] == []
    for c in theirs:
        c.wait()
        err = c.stderr()
        assert not re.search(r"unlocked writer|timed out waiting for lock", err), err
    print(f"{PER_SIDE} + {PER_SIDE} processes registered, heartbeat and left in {time.monotonic() - started:.1f} s")


def test_a_sigkilled_dcc_mcp_core_instance_is_pruned_through_its_sentinel(tmp_path, children):
    d = str(tmp_path)
    w = worker(children, d, free_port(), "maya")
    _, their_id, sentinel = w.expect("READY ", timeout=60).split()
    assert sentinel == os.path.join(d, "locks", f"maya-{their_id}.lock")
    reg = FileRegistry(d)
    assert their_id in [e.instance_id for e in reg.list_instances("maya")]
    w.kill()
    rows = read_rows(d)
    for r in rows:
        r["pid"] = os.getpid()  # a live (reused) pid: only the sentinel can tell
    with open(os.path.join(d, "services.json"), "w") as f:
        json.dump(rows, f, indent=2)
    assert {e.instance_id: lv for e, lv in reg.list_with_liveness()}[their_id] == "dead"
    assert reg.prune() == len(rows)  # its maya row and its gateway row
    assert read_rows(d) == [] and not os.path.exists(sentinel)


def test_a_python_row_is_alive_for_dcc_mcp_core_then_dead_and_pruned_by_it(tmp_path, children):
    d = str(tmp_path)
    ours = children.registrant(d, "blender", "tcp://127.0.0.1:23100")
    _, our_id, sentinel = ours.expect("READY ").split()
    assert dcc_mcp_sees_alive(d) == {our_id: True}
    ours.kill()
    assert os.path.exists(sentinel)
    assert dcc_mcp_sees_alive(d) == {our_id: False}
    w = worker(children, d, free_port(), "maya")
    _, their_id, _ = w.expect("READY ", timeout=60).split()
    wait_for(lambda: our_id not in ids(read_rows(d)), what="dcc-mcp-core to prune the dead Python row")
    assert ids(read_rows(d), "maya") == [their_id]
    w.close_stdin()
    w.expect("DONE", timeout=30)
