"""Cross-language: the Python client against the TypeScript demo server, and the
TypeScript client against a Python server (needs node and `npm run build`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from typing import Any, Dict, Iterator, List

import pytest

import wirecall
from wirecall import aio
from wirecall.demo import register_demo_methods

from conftest import FIXTURES, REPO, TS_CLI, requires_node, run

pytestmark = requires_node


# ------------------------------------------------------------------ the TypeScript server


@pytest.fixture(scope="module")
def ts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, str]]:
    token_file = tmp_path_factory.mktemp("token") / "token"
    token_file.write_text("s3cret\n")
    os.chmod(token_file, 0o600)
    sock = tmp_path_factory.mktemp("sock") / "ts.sock"
    procs = []
    endpoints = []
    for ep in ("tcp://127.0.0.1:0", f"unix:{sock}"):
        p = subprocess.Popen(
            ["node", str(TS_CLI), "serve", ep, "--token-file", str(token_file), "--name", "ts-demo"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
        )
        line = p.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("listening on "), line
        procs.append(p)
        endpoints.append(line[len("listening on ") :])
    yield {"tcp": endpoints[0], "unix": endpoints[1], "token": "s3cret"}
    for p in procs:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_python_client_calls_the_ts_server(ts_server: Dict[str, str], kind: str) -> None:
    with wirecall.connect(ts_server[kind], token=ts_server["token"], name="py-client") as conn:
        assert conn.peer is not None and conn.peer.name == "ts-demo"
        assert conn.call("add", {"a": 2, "b": 3}) == 5
        value = {"s": "x", "n": [1, 2.5, None, True], "bin": b"\x00\xff", "big": 2**40}
        assert conn.call("echo", value) == value
        with pytest.raises(wirecall.RemoteError) as info:
            conn.call("add", {"a": "x"})
        assert info.value.status == wirecall.Status.INVALID_ARGUMENT
        with pytest.raises(wirecall.RemoteError) as info:
            conn.call("fail", {"message": "boom"})
        e = info.value
        assert (e.status, e.remote_name, e.message) == (wirecall.Status.METHOD_ERROR, "DemoFailure", "boom")
        with pytest.raises(wirecall.RemoteError) as info:
            conn.call("nope")
        assert info.value.status == wirecall.Status.METHOD_NOT_FOUND
        who = conn.call("whoami")
        assert who["name"] == "py-client" and who["dialect"] == "wirecall"
        conn.notify("note", {"from": "python"})
        assert {"from": "python"} in conn.call("notes")
        assert conn.ping() < 1.0


def test_wrong_token_is_rejected_by_the_ts_server(ts_server: Dict[str, str]) -> None:
    with pytest.raises(wirecall.HandshakeRejected) as info:
        wirecall.connect(ts_server["tcp"], token="wrong")
    assert info.value.reason == "UNAUTHENTICATED"


def test_ts_server_calls_the_python_client_back(ts_server: Dict[str, str]) -> None:
    with wirecall.connect(ts_server["tcp"], token=ts_server["token"], handlers={"countdown.tick": lambda p: f"py ack {p['n']}"}) as conn:
        assert conn.call("countdown", {"from": 3}) == {"from": 3, "acks": ["py ack 3", "py ack 2", "py ack 1"]}


def test_deadline_and_cancellation_against_the_ts_server(ts_server: Dict[str, str]) -> None:
    async def body() -> None:
        conn = await aio.connect(ts_server["tcp"], token=ts_server["token"])
        t0 = time.monotonic()
        with pytest.raises(wirecall.DeadlineExceeded):
            await conn.call("sleep", {"ms": 5000}, timeout=0.2)
        assert time.monotonic() - t0 < 1.5
        task = asyncio.ensure_future(conn.call("sleep", {"ms": 5000}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await conn.call("add", {"a": 1, "b": 1}) == 2
        # Nothing is left in flight on either side: the close does not wait for the sleeps.
        t0 = time.monotonic()
        await conn.close(drain_timeout=3)
        assert time.monotonic() - t0 < 1.0

    run(body())


def test_streams_against_the_ts_server_with_a_slow_consumer(ts_server: Dict[str, str]) -> None:
    async def body() -> None:
        conn = await aio.connect(ts_server["tcp"], token=ts_server["token"], heartbeat_interval=0.2)
        assert [m async for m in conn.stream("count", {"n": 3000})] == list(range(3000))
        slow = conn.stream("count", {"n": 10**6}, window=(8, 1 << 20))
        got: List[int] = []
        async for m in slow:
            got.append(m)
            await asyncio.sleep(0.01)
            if len(got) == 30:
                break
        await slow.aclose()
        assert got == list(range(30))
        s = conn.client_stream("sum")
        for i in range(2000):
            await s.write(i)
        s.end()
        assert await s.result() == sum(range(2000))
        b = conn.bidi_stream("chat")
        await b.write("hi")
        await b.write({"a": [1, 2]})
        b.end()
        assert [m async for m in b] == ["hi", {"a": [1, 2]}]
        await asyncio.sleep(0.7)  # heartbeats both ways, the link stays up
        assert conn.is_open
        await conn.close()

    run(body())


# ------------------------------------------------------------------ the TypeScript client


def ts_client(endpoint: str, scenario: str, token: str = "", timeout: float = 30, env: Any = None) -> Dict[str, Any]:
    args = ["node", str(FIXTURES / "ts_client.mjs"), endpoint, scenario] + ([token] if token else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=str(REPO), env=env)
    assert out.stdout.strip(), out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture()
def py_server() -> Iterator[Dict[str, Any]]:
    server = register_demo_methods(wirecall.Server(name="py-demo", token="tok"))
    ep = server.listen("tcp://127.0.0.1:0")
    yield {"endpoint": ep, "server": server}
    server.close(drain_timeout=1)


def test_ts_client_calls_the_python_server(py_server: Dict[str, Any]) -> None:
    r = ts_client(py_server["endpoint"], "basic", "tok")
    assert r["ok"], r
    assert r["peer"] == "py-demo"
    assert r["add"] == 5
    assert r["echo"]["s"] == "x" and r["echo"]["n"] == [1, 2.5, None, True]
    assert r["echoBin"] == [0, 1, 2]
    assert r["notFound"]["class"] == "RemoteError" and r["notFound"]["status"] == 12
    assert (r["fail"]["status"], r["fail"]["remoteName"], r["fail"]["message"]) == (2, "DemoFailure", "boom")
    assert r["invalid"]["status"] == 3
    assert r["pingMs"] == "number"


def test_ts_client_wrong_token(py_server: Dict[str, Any]) -> None:
    r = ts_client(py_server["endpoint"], "basic", "nope")
    assert not r["ok"] and r["error"]["class"] == "HandshakeRejected" and r["error"]["reason"] == "UNAUTHENTICATED"


def test_python_server_calls_the_ts_client_back(py_server: Dict[str, Any]) -> None:
    r = ts_client(py_server["endpoint"], "callback", "tok")
    assert r["ok"], r
    assert r["result"] == {"from": 3, "acks": ["ack 3", "ack 2", "ack 1"]}
    assert r["ticks"] == [3, 2, 1]


def test_ts_client_deadline_reaches_the_python_handler(py_server: Dict[str, Any]) -> None:
    r = ts_client(py_server["endpoint"], "deadline", "tok")
    assert r["ok"], r
    assert r["error"]["class"] == "DeadlineExceeded" and r["elapsed"] < 1500
    assert r["after"] == 2
    assert {"method": "sleep", "reason": "DeadlineExceeded"} in r["cancelled"] or {"method": "sleep", "reason": "CallCancelled"} in r["cancelled"]


def test_ts_client_cancellation_reaches_the_python_handler(py_server: Dict[str, Any]) -> None:
    r = ts_client(py_server["endpoint"], "cancel", "tok")
    assert r["ok"], r
    assert r["isCancelled"]
    assert {"method": "sleep", "reason": "CallCancelled"} in r["cancelled"]


def test_ts_client_streams_against_the_python_server(py_server: Dict[str, Any]) -> None:
    r = ts_client(py_server["endpoint"], "streams", "tok")
    assert r["ok"], r
    assert r["countedOk"]
    assert r["slow"] == list(range(20))
    assert r["produced"] <= 20 + 8 + 1  # the slow reader held the Python producer to its window
    assert r["total"] == sum(range(3000))
    assert r["replies"] == ["hi", {"a": 1}]


def test_ts_cli_against_the_python_server() -> None:
    server = register_demo_methods(wirecall.Server(name="py-cli"))
    ep = server.listen("tcp://127.0.0.1:0")
    try:
        out = subprocess.run(["node", str(TS_CLI), "call", ep, "add", '{"a":1,"b":2}'], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "3"
        out = subprocess.run(["node", str(TS_CLI), "call", "--stream", ep, "count", '{"n":3}'], capture_output=True, text=True, timeout=20)
        assert out.stdout.split() == ["0", "1", "2"] or out.returncode == 0, out
        out = subprocess.run(["node", str(TS_CLI), "ping", ep, "--count", "2"], capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
    finally:
        server.close()


def test_python_server_on_a_busy_main_thread_serves_the_ts_client() -> None:
    """A DCC: handlers may only run on the main thread, which is busy with its own loop."""
    main = wirecall.MainThreadQueue()
    server = wirecall.Server(name="dcc", executor=main.run)
    scene = ["cube"]
    threads: List[str] = []

    def scene_add(name: Any) -> Any:
        threads.append(threading.current_thread().name)
        scene.append(name)
        return list(scene)

    def scene_slow(params: Any, ctx: wirecall.CallContext) -> Any:
        ctx.wait_cancelled(3)
        return "too late"

    server.register("scene.add", scene_add)
    server.register("scene.slow", scene_slow)
    ep = server.listen("tcp://127.0.0.1:0")
    result: Dict[str, Any] = {}

    def client() -> None:
        try:
            result.update(ts_client(ep, "scene"))
        finally:
            main.stop()

    t = threading.Thread(target=client)
    t.start()
    start = time.monotonic()
    while not main._stopped and time.monotonic() - start < 30:
        time.sleep(0.02)  # the main thread's own work: 20 ms "frames"
        main.process()
    t.join(5)
    server.close(drain_timeout=1)
    assert result.get("ok"), result
    assert result["results"][-1] == ["cube", "sphere", "cone", "torus"]
    assert result["slow"]["class"] == "DeadlineExceeded"
    assert set(threads) == {threading.current_thread().name}


def test_ts_server_shutdown_drains_a_python_call_in_flight() -> None:
    p = subprocess.Popen(["node", str(TS_CLI), "serve", "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        ep = p.stdout.readline().strip()[len("listening on ") :]  # type: ignore[union-attr]

        async def body() -> None:
            conn = await aio.connect(ep)
            call = asyncio.ensure_future(conn.call("sleep", {"ms": 600}))
            await asyncio.sleep(0.2)
            p.terminate()  # SIGTERM: the TS server shuts down gracefully
            assert await call == {"slept": 600}  # drained, not dropped
            assert await asyncio.wait_for(conn.wait_closed(), 5) is not None or conn.state == "closed"
            with pytest.raises(wirecall.ConnectionClosed):
                await conn.call("add", {"a": 1, "b": 1})

        run(body())
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_python_serve_shutdown_drains_a_ts_call_in_flight() -> None:
    import sys

    p = subprocess.Popen([sys.executable, "-m", "wirecall", "serve", "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ep = p.stdout.readline().strip()[len("listening on ") :]  # type: ignore[union-attr]
        ts = subprocess.Popen(["node", str(TS_CLI), "call", ep, "sleep", '{"ms":600}'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
        with wirecall.connect(ep) as probe:  # wait until the TS call is running in the Python server
            deadline = time.monotonic() + 20
            while probe.call("sleeping") == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
        p.terminate()
        out, err = ts.communicate(timeout=10)
        assert ts.returncode == 0, err
        assert json.loads(out) == {"slept": 600}
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()


def test_python_server_declares_a_frozen_ts_client_dead() -> None:
    import signal

    server = wirecall.Server(name="hb", heartbeat_interval=0.2)
    ep = server.listen("tcp://127.0.0.1:0")
    node = subprocess.Popen(["node", str(FIXTURES / "ts_client.mjs"), ep, "idle"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO), env=dict(os.environ, HEARTBEAT_MS="200"))
    try:
        assert json.loads(node.stdout.readline()) == {"connected": True}  # type: ignore[union-attr]
        (conn,) = server.connections
        time.sleep(0.8)  # heartbeats both ways: alive
        assert conn.is_open
        node.send_signal(signal.SIGSTOP)
        start = time.monotonic()
        while conn.is_open and time.monotonic() - start < 5:
            time.sleep(0.05)
        assert not conn.is_open
        assert 0.4 < time.monotonic() - start < 3  # 3 × 200 ms of silence, give or take an interval
        assert isinstance(conn.wait_closed(2), wirecall.ConnectionLost)
    finally:
        node.send_signal(signal.SIGCONT)
        node.kill()
        node.wait(5)
        server.close(drain_timeout=0.5)


# ------------------------------------------------------------------ bad input: the same answers from both servers

_HELLO = [1, {"protocol": "wirecall", "versions": [1], "peerName": "raw", "peerVersion": "0", "maxFrameSize": 1 << 20, "heartbeatMs": 0}]

# A lone oversize length prefix before the handshake is not compared: the TypeScript server,
# which also takes dcc-mcp-core clients, waits for more bytes to tell the dialect (up to its
# handshake timeout); the Python server refuses it at once, as PROTOCOL.md 2.3 says. With a
# byte of payload behind it, both answer alike.
BAD_INPUTS = [
    ("oversize first frame", False, (70000).to_bytes(4, "big") + b"\x92\x01" + bytes(30)),
    ("an HTTP client", False, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("oversize prefix after the handshake", True, (16 * 1024 * 1024 + 1).to_bytes(4, "big")),
    ("first frame not HELLO", False, None),
    ("garbage instead of HELLO", False, b"\x00\x00\x00\x03\xc1\xc1\xc1"),
    ("empty frame", True, b"\x00\x00\x00\x00"),
    ("reserved byte", True, b"\x00\x00\x00\x01\xc1"),
    ("trailing bytes", True, b"\x00\x00\x00\x04\x92\x30\x00\x00"),
    ("truncated value", True, b"\x00\x00\x00\x02\x92\x30"),
    ("unknown type", True, None),
    ("malformed CALL", True, None),
    ("not a message", True, None),
    ("extension type", True, bytes.fromhex("00000006931101d47200")),
    ("reserved stream type", True, None),
    ("HELLO after the handshake", True, None),
    ("duplicate call id", True, None),
    ("message beyond stream credit", True, None),
    ("CALLER_MESSAGE on a server stream", True, None),
    ("flood past the concurrency limit", True, None),
    ("HELLO offering only version 2", False, None),
    ("HELLO of another protocol", False, None),
    ("malformed HELLO", False, None),
    ("a second frame before the answer", False, None),
]


def _bad_bytes(name: str, data: Any) -> bytes:
    from wirecall import protocol as P

    if data is not None:
        return data
    return {
        "first frame not HELLO": P.pack_frame([16, 1, "add", None, None]),
        "unknown type": P.pack_frame([99]),
        "malformed CALL": P.pack_frame([16, 1, "add", {}]),
        "not a message": P.pack_frame({"a": 1}),
        "reserved stream type": P.pack_frame([38, 1]),
        "HELLO after the handshake": P.pack_frame(_HELLO),
        "duplicate call id": P.pack_frame([16, 7, "sleep", {"ms": 2000}, None]) * 2,
        "message beyond stream credit": P.pack_frame([32, 1, "sum", None, None, 2, 16, 4096])
        + b"".join(P.pack_frame([33, 1, i]) for i in range(1025)),
        "CALLER_MESSAGE on a server stream": P.pack_frame([32, 1, "count", {"n": 10}, None, 1, 1, 4096]) + P.pack_frame([33, 1, 0]),
        "flood past the concurrency limit": b"".join(P.pack_frame([16, i, "sleep", {"ms": 3000}, None]) for i in range(1, 2100)),
        "HELLO offering only version 2": P.pack_frame([1, dict(_HELLO[1], versions=[2, 3])]),
        "HELLO of another protocol": P.pack_frame([1, dict(_HELLO[1], protocol="grpc")]),
        "malformed HELLO": P.pack_frame([1, dict(_HELLO[1], maxFrameSize=-1)]),
        "a second frame before the answer": P.pack_frame([1, dict(_HELLO[1], versions=[2])]) + P.pack_frame([48, 1]),
    }[name]


def _exchange(port: int, hello: bool, data: bytes) -> List[Any]:
    import socket as so

    from wirecall import protocol as P

    s = so.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if hello:
            s.sendall(P.pack_frame(_HELLO))
        s.sendall(data)
        got = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (so.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    frames = [P.decode_payload(p) for p in P.FrameDecoder(1 << 30).feed(got)]
    # The WELCOME differs (names, connection id); keep what is not a handshake answer or a stream frame.
    return [m for m in frames if m[0] not in (2, 36, 37)]


def test_bad_input_gets_the_same_answers_from_the_python_and_the_ts_server() -> None:
    ts = subprocess.Popen(["node", str(FIXTURES / "ts_server.mjs"), "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    py = register_demo_methods(wirecall.Server(handshake_timeout=1.0))
    try:
        ts_port = int(ts.stdout.readline().strip().rsplit(":", 1)[1])  # type: ignore[union-attr]
        py_port = int(py.listen("tcp://127.0.0.1:0").rsplit(":", 1)[1])
        for name, hello, data in BAD_INPUTS:
            payload = _bad_bytes(name, data)
            ts_answer = _exchange(ts_port, hello, payload)
            py_answer = _exchange(py_port, hello, payload)
            assert py_answer == ts_answer, name
            assert ts_answer and ts_answer[-1][0] in (3, 50), name
    finally:
        ts.terminate()
        ts.wait(10)
        py.close(drain_timeout=0.5)


def test_the_demo_methods_answer_alike_in_python_and_typescript() -> None:
    from wirecall import protocol as P

    ts = subprocess.Popen(["node", str(FIXTURES / "ts_server.mjs"), "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    py = register_demo_methods(wirecall.Server())
    calls = [
        ["echo", {"a": [1, "x", None, True, 1.5]}],
        ["add", {"a": 2, "b": 3}],
        ["add", {"a": "x"}],
        ["add", None],
        ["fail", {"message": "boom"}],
        ["fail", None],
        ["nope", None],
        ["count", {"n": 2}],
        ["sleep", {"ms": -1}],
        ["countdown", {"from": 1}],
        ["countdown", {"from": 5000}],
    ]
    data = b"".join(P.pack_frame([16, i + 1, m, p, None]) for i, (m, p) in enumerate(calls))

    def answers(port: int) -> List[Any]:
        import socket as so

        s = so.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(P.pack_frame(_HELLO) + data)
        d = P.FrameDecoder(1 << 30)
        got: Dict[int, Any] = {}
        while len(got) < len(calls):
            for payload in d.feed(s.recv(65536)):
                m = P.decode_payload(payload)
                if m[0] == 16:  # countdown calls countdown.tick back: we serve nothing
                    s.sendall(P.pack_frame([18, m[1], 12, {"name": "MethodNotFound", "message": f"method not found: {m[2]}"}]))
                elif m[0] in (17, 18):
                    got[m[1]] = m
        s.close()
        return [got[i + 1] for i in range(len(calls))]

    try:
        ts_port = int(ts.stdout.readline().strip().rsplit(":", 1)[1])  # type: ignore[union-attr]
        py_port = int(py.listen("tcp://127.0.0.1:0").rsplit(":", 1)[1])
        for call, a, b in zip(calls, answers(ts_port), answers(py_port)):
            assert b == a, call
    finally:
        ts.terminate()
        ts.wait(10)
        py.close(drain_timeout=0.5)
