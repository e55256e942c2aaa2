"""The Python registry against the compiled TypeScript one (dist/, `npm run build`), in real
processes: the same rows read the same way and written byte for byte alike; Python rows
listed by `wirecall services` and routed to by `wirecall call`; a `wirecall serve --register`
row alive for Python, dead after SIGKILL; each side keeps the other's rows exactly; the two
locks exclude each other and a killed holder of either side is got past at once; N
TypeScript + N Python processes registering at once end with exactly their rows.

Skipped without node (failed with CI=true); builds dist/ with `npm run build` if missing."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from registry_support import (  # noqa: E402
    CLI,
    DIST_REGISTRY,
    HERE,
    NODE,
    PATIENT,
    ROOT,
    TS_FIXTURES,
    Children,
    child_env,
    cli,
    cli_services,
    need_node,
    read_rows,
)

from wirecall.registry import FileRegistry  # noqa: E402
from wirecall.registry_file import encode_rows  # noqa: E402
from wirecall.registry_rows import parse_row  # noqa: E402
from wirecall.registry_sentinel import probe_sentinel  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals; the Windows lock is exercised by hand")

LOCK_HOLDER_TS = os.path.join(TS_FIXTURES, "lock-holder.mjs")
REGISTRANT_TS = os.path.join(TS_FIXTURES, "wirecall-registrant.mjs")
HOLDER_PY = os.path.join(HERE, "registry_lock_holder.py")


@pytest.fixture(scope="module", autouse=True)
def dist():
    need_node()


@pytest.fixture
def children():
    c = Children()
    yield c
    c.cleanup()


def node(children: Children, *args: str, env=None):  # type: ignore[no-untyped-def]
    assert NODE is not None
    return children.start([NODE, *args], env=env)


# ---- the same rows, read and written alike ------------------------------------


@pytest.mark.parametrize("name", ["dcc-mcp-core-0.20.json", "dcc-mcp-core-example.json", "mixed-formats.json", "schema-v2.json"])
def test_both_sides_read_the_fixtures_alike_and_write_the_same_bytes(name):
    path = os.path.join(TS_FIXTURES, name)
    out = subprocess.run([NODE, os.path.join(HERE, "registry_ts_parse.mjs"), DIST_REGISTRY, path], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    ts = json.loads(out.stdout)
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    assert encode_rows(rows).decode("utf-8") == ts["text"]
    for row, theirs in zip(rows, ts["rows"]):
        ours = parse_row(row)
        assert ours.ok == theirs["ok"]
        if not ours.ok:
            assert ours.problem == theirs["problem"]
            continue
        assert ours.warning == theirs.get("warning")
        e, t = ours.entry, theirs["entry"]
        assert (e.dcc_type, e.instance_id, e.host, e.port, e.version, e.scene, e.status, e.schema_version) == (
            t["dccType"], t["instanceId"], t["host"], t["port"], t["version"], t["scene"], t["status"], t["schemaVersion"],
        )
        assert (e.transport_address, e.pid, e.sentinel_path) == (t.get("transportAddress"), t.get("pid"), t.get("sentinelPath"))
        assert e.metadata == t["metadata"] and e.extra == t.get("extra", {})
        assert list(e.extra) == list(t.get("extra", {}))
        assert e.registered_at * 1000 == pytest.approx(t["registeredAt"], abs=1e-3)
        assert e.last_heartbeat * 1000 == pytest.approx(t["lastHeartbeat"], abs=1e-3)
        try:
            endpoint = e.endpoint
        except Exception:  # noqa: BLE001
            endpoint = None
        assert endpoint == t["endpoint"]


# ---- Python rows, seen and used by TypeScript ---------------------------------


def test_python_rows_listed_by_wirecall_services(tmp_path, monkeypatch):
    d = str(tmp_path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    os.makedirs(str(tmp_path / "run"), mode=0o700)
    reg = FileRegistry(d)
    tcp = reg.register("houdini", "tcp://127.0.0.1:18812", version="20.5", scene="/shot.hip", metadata={"gpu": "1"})
    ipv6 = reg.register("houdini", "[::1]:18813")
    unix = reg.register("blender", "unix:/tmp/blender-7.sock")
    pipe = reg.register("nuke", "pipe://nuke-7")
    try:
        listed = {r["instanceId"]: r for r in cli_services(d)}
        assert set(listed) == {tcp.instance_id, ipv6.instance_id, unix.instance_id, pipe.instance_id}
        t = listed[tcp.instance_id]
        assert (t["dccType"], t["endpoint"], t["status"], t["liveness"], t["pid"]) == ("houdini", "tcp://127.0.0.1:18812", "available", "live", os.getpid())
        assert (t["version"], t["scene"], t["metadata"], t["host"], t["port"]) == ("20.5", "/shot.hip", {"gpu": "1"}, "127.0.0.1", 18812)
        assert listed[ipv6.instance_id]["endpoint"] == "tcp://[::1]:18813"
        assert listed[unix.instance_id]["endpoint"] == "unix:/tmp/blender-7.sock"
        assert listed[pipe.instance_id]["endpoint"] == "unix:" + str(tmp_path / "run" / "wirecall" / "nuke-7.sock")
        for e in (tcp, ipv6, unix, pipe):
            assert listed[e.instance_id]["endpoint"] == e.endpoint
        assert [r["instanceId"] for r in cli_services(d, "blender")] == [unix.instance_id]
        # the registry directory from the environment, as the CLI's default
        out = cli("services", "--json", env=child_env(WIRECALL_REGISTRY_DIR=d))
        assert len(json.loads(out.stdout)) == 4
        assert reg.set_status("houdini", tcp.instance_id, "busy")
        assert {r["instanceId"]: r["status"] for r in cli_services(d)}[tcp.instance_id] == "busy"
    finally:
        for e in (tcp, ipv6, unix, pipe):
            reg.deregister(e.dcc_type, e.instance_id)
    assert cli_services(d, "--all") == []


def test_a_sigkilled_python_registrant_is_dead_for_typescript(tmp_path, children):
    d = str(tmp_path)
    child = children.registrant(d, "maya", "tcp://127.0.0.1:18920")
    _, instance_id, sentinel = child.expect("READY ").split()
    assert [r["instanceId"] for r in cli_services(d)] == [instance_id]
    child.kill()
    (row,) = cli_services(d, "--all")
    assert (row["instanceId"], row["liveness"]) == (instance_id, "dead")
    assert cli_services(d) == []
    assert os.path.exists(sentinel) and probe_sentinel(sentinel) == "free"


def test_typescript_routes_to_a_python_registered_row(tmp_path, children):
    d = str(tmp_path)
    for endpoint in ("tcp://127.0.0.1:0", f"unix:{tmp_path}/demo.sock"):
        server = node(children, CLI, "serve", endpoint)
        listening = server.expect("listening on ").split(" ", 2)[2]
        reg = FileRegistry(d)
        e = reg.register("maya", listening, scene="/a.ma")
        try:
            assert e.endpoint == listening
            out = cli("call", "maya", "echo", '"hi from python row"', "--registry-dir", d)
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout) == "hi from python row"
            out = cli("call", "maya", "add", '{"a": 2, "b": 3}', "--instance", e.instance_id[:8], "--registry-dir", d)
            assert out.returncode == 0 and json.loads(out.stdout) == 5, out.stderr
        finally:
            reg.deregister("maya", e.instance_id)
            server.kill()
    out = cli("call", "maya", "echo", '"x"', "--registry-dir", d)
    assert out.returncode == 2 and d in out.stderr  # no live instance any more


def ts_session(d: str, dcc_type: str, params) -> dict:  # type: ignore[no-untyped-def]
    """A TransportManager session to ``dcc_type`` through the registry in ``d``, and an echo call on it."""
    assert NODE is not None
    script = os.path.join(HERE, "registry_ts_session.mjs")
    out = subprocess.run([NODE, script, os.path.join(ROOT, "dist", "src"), d, dcc_type, json.dumps(params)],
                         capture_output=True, text=True, timeout=60, env=child_env())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_transport_manager_session_routes_to_a_python_registered_row(tmp_path, children):
    d = str(tmp_path)
    server = node(children, CLI, "serve", f"unix:{tmp_path}/houdini.sock")
    listening = server.expect("listening on ").split(" ", 2)[2]
    reg = FileRegistry(d)
    dead = reg.register("houdini", "tcp://127.0.0.1:9", pid=2**22 + 5)  # dead: never routed to
    busy = reg.register("houdini", "tcp://127.0.0.1:10", status="unreachable")  # never routed to either
    e = reg.register("houdini", listening, version="20.5")
    try:
        got = ts_session(d, "houdini", {"from": "python row"})
        assert got == {"instanceId": e.instance_id, "endpoint": listening, "result": {"from": "python row"}}
    finally:
        for x in (dead, busy, e):
            reg.deregister("houdini", x.instance_id)
    assert "ServiceNotFound" in ts_session(d, "houdini", 1)["error"]


# ---- TypeScript rows, seen by Python ------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_wirecall_serve_register_is_alive_for_python_then_dead_after_sigkill(tmp_path, children, how):
    d = str(tmp_path)
    assert NODE is not None
    if how == "flag":
        server = children.start([NODE, CLI, "serve", "tcp://127.0.0.1:0", "--register", "houdini", "--registry-dir", d, "--scene", "/s.hip"])
        reg = FileRegistry(d)
    else:
        server = children.start([NODE, CLI, "serve", "tcp://127.0.0.1:0", "--register", "houdini", "--scene", "/s.hip"], env=child_env(WIRECALL_REGISTRY_DIR=d))
        os.environ["WIRECALL_REGISTRY_DIR"] = d
        try:
            reg = FileRegistry()
        finally:
            del os.environ["WIRECALL_REGISTRY_DIR"]
        assert reg.dir == d
    listening = server.expect("listening on ").split(" ", 2)[2]
    _, dcc_type, instance_id = server.expect("registered ").split()
    assert dcc_type == "houdini"
    (e,) = reg.list_instances("houdini")
    assert (e.instance_id, e.endpoint, e.pid, e.scene, e.status) == (instance_id, listening, server.pid, "/s.hip", "available")
    assert e.sentinel_path == os.path.join(d, "locks", f"houdini-{instance_id}.lock")
    assert probe_sentinel(e.sentinel_path) == "held"
    assert reg.liveness_of(e) == "live"

    server.kill()
    assert probe_sentinel(e.sentinel_path) == "free"
    assert reg.list_instances("houdini") == []
    assert [lv for _, lv in reg.list_with_liveness()] == ["dead"]
    assert reg.prune() == 1 and read_rows(d) == [] and not os.path.exists(e.sentinel_path)


def test_wirecall_serve_deregisters_on_sigterm(tmp_path, children):
    d = str(tmp_path)
    assert NODE is not None
    server = children.start([NODE, CLI, "serve", "tcp://127.0.0.1:0", "--register", "maya", "--registry-dir", d])
    server.expect("listening on ")
    server.expect("registered ")
    assert len(FileRegistry(d).list_instances("maya")) == 1
    server.kill(15)
    assert server.wait() is not None
    assert FileRegistry(d).list_with_liveness() == []


# ---- each side keeps the other's rows -----------------------------------------


def test_each_side_keeps_the_others_rows_exactly(tmp_path, children):
    d = str(tmp_path)
    reg = FileRegistry(d)
    ours = reg.register("maya", "tcp://127.0.0.1:18930", metadata={"renderer": "arnold"},
                        extra={"display_name": "Maya ✓", "extras": {"nested": [1, 2.5, None]}, "documents": ["/a.ma"]})
    (python_row,) = read_rows(d)

    ts = node(children, REGISTRANT_TS, os.path.join(DIST_REGISTRY, "file-registry.js"), d, "houdini", "3", "20")
    _, ts_id, _ = ts.expect("READY ").split()
    ts.expect("BEATEN")
    rows = read_rows(d)
    assert json.dumps(rows[0]) == json.dumps(python_row)  # TypeScript's writes left ours as it was
    ts_row = next(r for r in rows if r["instance_id"] == ts_id)

    assert reg.heartbeat("maya", ours.instance_id) and reg.set_status("maya", ours.instance_id, "busy")
    other = reg.register("blender", "unix:/tmp/b.sock")
    reg.deregister("blender", other.instance_id)
    assert json.dumps(next(r for r in read_rows(d) if r["instance_id"] == ts_id)) == json.dumps(ts_row)  # and ours theirs

    ts.close_stdin()
    ts.expect("DONE")
    (left,) = read_rows(d)
    assert left["instance_id"] == ours.instance_id and left["status"] == "busy"
    assert {k: v for k, v in left.items() if k not in ("status", "last_heartbeat")} == {
        k: v for k, v in python_row.items() if k not in ("status", "last_heartbeat")
    }
    reg.deregister("maya", ours.instance_id)


# ---- the locks, across the two languages --------------------------------------


def test_a_python_writer_waits_for_a_typescript_holder_and_gets_past_it_when_killed(tmp_path, children):
    d = str(tmp_path)
    holder = node(children, LOCK_HOLDER_TS, DIST_REGISTRY, d, "10000", "hold")
    holder.expect("started")
    holder.expect("locked")
    records = os.listdir(os.path.join(d, "services.json.lock"))
    assert len(records) == 1 and records[0].startswith(f"owner-{holder.pid}-")
    # flock held: a Python write waits, and times out
    with pytest.raises(Exception, match=r"timed out after 300 ms .*services\.lock"):
        FileRegistry(d, lock_timeout=0.3).register("maya", "tcp://127.0.0.1:1", pid=1)
    holder.kill()
    start = time.monotonic()
    e = FileRegistry(d).register("maya", "tcp://127.0.0.1:1", pid=1)  # lock_stale 10 s: the dead owner record lets us in
    assert time.monotonic() - start < 2
    assert [r["instance_id"] for r in read_rows(d)] == [e.instance_id]


def test_a_typescript_writer_waits_for_a_python_holder_and_gets_past_it_when_killed(tmp_path, children):
    d = str(tmp_path)
    write_ts = os.path.join(HERE, "registry_ts_write.mjs")
    for mode in ("flock", "both"):
        holder = children.python(HOLDER_PY, d, mode)
        holder.expect("started")
        holder.expect("locked")
        waiter = node(children, write_ts, DIST_REGISTRY, d, "300", "10000")
        waiter.expect("started")
        line = waiter.expect("ERROR ")
        assert "RegistryFileError" in line and "timed out" in line, line
        holder.close_stdin()
        holder.expect("released")

    # A Python holder of both locks, killed: TypeScript gets past its owner record at once.
    holder = children.python(HOLDER_PY, d, "write")
    holder.expect("started")
    temp = holder.expect("writing ").split(" ", 1)[1]
    waiter = node(children, write_ts, DIST_REGISTRY, d, "30000", "10000")
    waiter.expect("started")
    time.sleep(0.3)
    assert read_rows(d) == []
    holder.kill()
    _, ms, instance_id = waiter.expect("OK ", timeout=30).split()
    assert int(ms) < 5000  # well under lockStaleMs: the record named a dead pid
    assert [r["instance_id"] for r in read_rows(d)] == [instance_id]
    assert not os.path.exists(temp)  # and it removed the temp file our killed writer left


def test_n_typescript_and_n_python_processes_registering_at_once(tmp_path, children):
    d = str(tmp_path)
    n = 5
    env = child_env(**PATIENT)
    ts = [node(children, REGISTRANT_TS, os.path.join(DIST_REGISTRY, "file-registry.js"), d, f"ts-{i % 2}", "5", "10", env=env) for i in range(n)]
    py = [children.registrant(d, f"py-{i % 2}", f"tcp://127.0.0.1:{22000 + i}", "5", "10", env=env) for i in range(n)]
    ids = {}
    for c in ts + py:
        _, instance_id, sentinel = c.expect("READY ", timeout=60).split()
        ids[instance_id] = c.pid
        assert probe_sentinel(sentinel) == "held"
    for c in ts + py:
        c.expect("BEATEN", timeout=60)
    rows = read_rows(d)
    assert len(rows) == 2 * n
    assert {r["instance_id"]: r["pid"] for r in rows} == ids
    assert len(FileRegistry(d).list_all()) == 2 * n
    assert len(cli_services(d)) == 2 * n
    for c in ts + py:
        c.close_stdin()
    for c in ts + py:
        c.expect("DONE", timeout=60)
    assert read_rows(d) == []
    assert glob.glob(os.path.join(d, "locks", "*")) == []
    assert not os.path.exists(os.path.join(d, "services.json.lock"))


# ---- end to end, with the package's own client and server ----------------------


def test_a_python_server_registered_and_called_by_a_transport_manager_session(tmp_path):
    blocking = pytest.importorskip("wirecall.blocking")
    d = str(tmp_path)
    server = blocking.Server(name="houdini-py")
    server.register("echo", lambda params: params)
    try:
        endpoint = server.listen(f"unix:{tmp_path}/py-houdini.sock")
        with FileRegistry(d).keep_registered("houdini", endpoint, interval=1.0, scene="/shot.hip") as registration:
            got = ts_session(d, "houdini", {"hello": "from TypeScript"})
            assert got == {"instanceId": registration.instance_id, "endpoint": endpoint, "result": {"hello": "from TypeScript"}}
            (row,) = cli_services(d)
            assert (row["endpoint"], row["scene"], row["pid"]) == (endpoint, "/shot.hip", os.getpid())
        assert cli_services(d, "--all") == []
    finally:
        server.close()


def test_python_connects_to_a_row_wirecall_serve_registered(tmp_path, children):
    blocking = pytest.importorskip("wirecall.blocking")
    d = str(tmp_path)
    assert NODE is not None
    server = children.start([NODE, CLI, "serve", "tcp://127.0.0.1:0", "--register", "maya", "--registry-dir", d])
    server.expect("listening on ")
    server.expect("registered ")
    (e,) = FileRegistry(d).list_instances("maya")
    with blocking.connect(e.endpoint) as conn:
        assert conn.call("echo", {"from": "python"}, timeout=10) == {"from": "python"}
        assert conn.call("add", {"a": 2, "b": 40}, timeout=10) == 42
