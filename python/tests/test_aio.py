"""asyncio client and server over real sockets."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, List

import pytest

import wirecall
from wirecall import aio
from wirecall import protocol as P
from wirecall import (
    ConnectionClosed,
    ConnectionLost,
    DeadlineExceeded,
    HandshakeRejected,
    HandshakeTimeout,
    RemoteError,
    Status,
)

from conftest import run


def make_server(**options: Any) -> aio.Server:
    server = aio.Server(name="py-test", **options)
    server.register("add", lambda p: p["a"] + p["b"])
    server.register("echo", lambda p: p)

    async def sleep(p: Any, ctx: wirecall.CallContext) -> Any:
        try:
            await asyncio.sleep(p)
        except asyncio.CancelledError:
            seen.append(("cancelled", ctx.method, type(ctx.cancel_reason).__name__))
            raise
        return "slept"

    seen: List[Any] = []
    server.seen = seen  # type: ignore[attr-defined]
    server.register("sleep", sleep)

    async def back(p: Any, ctx: wirecall.CallContext) -> Any:
        acks = []
        for n in range(p, 0, -1):
            acks.append(await ctx.connection.call("tick", {"n": n}))
        return acks

    server.register("back", back)

    def fail(p: Any) -> Any:
        e = KeyError("no such thing")
        raise e

    server.register("fail", fail)

    def remote(p: Any) -> Any:
        raise RemoteError(Status.PERMISSION_DENIED, "no", remote_name="Denied", remote_code="EPERM", data={"who": "me"})

    server.register("remote", remote)
    server.register("invalid", lambda p: (_ for _ in ()).throw(wirecall.InvalidArgument("bad a")))
    server.register("note", lambda p: seen.append(("note", p)))
    return server


@pytest.fixture(params=["tcp", "unix"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


def endpoint_for(kind: str, tmp_path: Any) -> str:
    return "tcp://127.0.0.1:0" if kind == "tcp" else f"unix:{tmp_path}/s.sock"


def test_calls_results_and_errors(transport: str, tmp_path: Any) -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen(endpoint_for(transport, tmp_path))
        conn = await aio.connect(ep, name="py-client")
        assert conn.peer is not None and conn.peer.name == "py-test"
        assert await conn.call("add", {"a": 2, "b": 3}) == 5
        assert await conn.call("echo", {"b": b"\x00\xff", "f": 0.5, "l": [None, True]}) == {"b": b"\x00\xff", "f": 0.5, "l": [None, True]}
        with pytest.raises(RemoteError) as info:
            await conn.call("nope")
        assert info.value.status == Status.METHOD_NOT_FOUND and info.value.message == "method not found: nope"
        with pytest.raises(RemoteError) as info:
            await conn.call("fail")
        assert (info.value.status, info.value.remote_name) == (Status.METHOD_ERROR, "KeyError")
        with pytest.raises(RemoteError) as info:
            await conn.call("remote")
        e = info.value
        assert (e.status, e.status_name, e.remote_name, e.remote_code, e.data) == (7, "PERMISSION_DENIED", "Denied", "EPERM", {"who": "me"})
        with pytest.raises(RemoteError) as info:
            await conn.call("invalid")
        assert (info.value.status, info.value.remote_name, info.value.remote_code) == (3, "InvalidArgument", "ERR_INVALID_ARGUMENT")
        results = await asyncio.gather(*(conn.call("add", {"a": i, "b": i}) for i in range(200)))
        assert results == [2 * i for i in range(200)]
        assert await conn.ping() < 1.0
        await conn.close()
        await server.close()
        if transport == "unix":
            assert not os.path.exists(f"{tmp_path}/s.sock")

    run(body())


def test_calls_back_to_the_caller() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        async with await aio.connect(ep, handlers={"tick": lambda p: p["n"] * 10}) as conn:
            assert await conn.call("back", 3) == [30, 20, 10]
        assert conn.state == "closed"
        await server.close()

    run(body())


def test_server_calls_the_client_from_on_connection() -> None:
    async def body() -> None:
        got: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

        async def greet(c: aio.Connection) -> None:
            got.set_result(await c.call("whoami"))

        server = make_server(on_connection=lambda c: asyncio.ensure_future(greet(c)))
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep, name="me", handlers={"whoami": lambda p, ctx: ctx.peer.name})
        assert await got == "py-test"
        await conn.close()
        await server.close()

    run(body())


def test_sync_handler_without_context_returning_an_awaitable_keeps_its_deadline() -> None:
    # Such a handler runs inline with no context made for it (the fast path); an awaitable it
    # returns gets one, with the deadline counted from the call's arrival, and is cancelled by it.
    async def body() -> None:
        server = aio.Server(name="py-test")
        server.register("later", lambda p: asyncio.sleep(p, "late"))
        server.register("boom", lambda p: 1 / 0)
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        assert await conn.call("later", 0.01, timeout=5) == "late"
        with pytest.raises(DeadlineExceeded):
            await conn.call("later", 5, timeout=0.1)
        with pytest.raises(RemoteError) as info:
            await conn.call("boom", None, timeout=5)
        assert info.value.remote_name == "ZeroDivisionError"
        assert await conn.call("later", 0, timeout=5) == "late"
        await conn.close()
        await server.close()

    run(body())


def test_deadline_fails_the_call_and_cancels_the_handler() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        with pytest.raises(DeadlineExceeded):
            await conn.call("sleep", 5, timeout=0.1)
        await asyncio.sleep(0.1)
        assert ("cancelled", "sleep", "DeadlineExceeded") in server.seen or ("cancelled", "sleep", "CallCancelled") in server.seen
        assert await conn.call("add", {"a": 1, "b": 1}) == 2
        await conn.close()
        await server.close()

    run(body())


def test_server_side_deadline_answers_deadline_exceeded() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        reader, writer = await asyncio.open_connection("127.0.0.1", int(ep.rsplit(":", 1)[1]))
        writer.write(P.pack_frame([1, {"protocol": "wirecall", "versions": [1], "peerName": "raw", "peerVersion": "0", "maxFrameSize": 1 << 20, "heartbeatMs": 0}]))
        writer.write(P.pack_frame([16, 5, "sleep", 5, 100]))
        await writer.drain()
        got = []
        d = P.FrameDecoder(1 << 20)
        while len(got) < 2:
            got += [P.decode_payload(p) for p in d.feed(await reader.read(65536))]
        assert got[0][0] == 2
        assert got[1] == [18, 5, 4, {"name": "DeadlineExceeded", "message": "deadline of sleep passed"}]
        writer.close()
        await server.close()

    run(body())


def test_cancelling_the_task_cancels_the_handler() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        task = asyncio.ensure_future(conn.call("sleep", 5))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
        assert ("cancelled", "sleep", "CallCancelled") in server.seen
        await conn.close()
        await server.close()

    run(body())


def test_notifications_both_ways() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        notes: "asyncio.Queue[Any]" = asyncio.Queue()
        conn = await aio.connect(ep, handlers={"progress": lambda p: notes.put_nowait(p)})
        conn.notify("note", {"x": 1})
        conn.notify("unknown-method", None)  # ignored, no answer
        assert await conn.call("add", {"a": 0, "b": 0}) == 0
        assert ("note", {"x": 1}) in server.seen
        (sc,) = list(server.connections)
        sc.notify("progress", 50)
        assert await asyncio.wait_for(notes.get(), 2) == 50
        await conn.close()
        await server.close()

    run(body())


def test_token_and_version_negotiation() -> None:
    async def body() -> None:
        server = make_server(token="s3cret")
        ep = await server.listen("tcp://127.0.0.1:0")
        with pytest.raises(HandshakeRejected) as info:
            await aio.connect(ep)
        assert info.value.reason == "UNAUTHENTICATED" and "a token is required" in str(info.value)
        with pytest.raises(HandshakeRejected) as info:
            await aio.connect(ep, token="wrong")
        assert info.value.reason == "UNAUTHENTICATED"
        conn = await aio.connect(ep, token="s3cret")
        assert conn.peer is not None and conn.peer.protocol_version == 1
        await conn.close()
        # a HELLO offering only version 2
        reader, writer = await asyncio.open_connection("127.0.0.1", int(ep.rsplit(":", 1)[1]))
        writer.write(P.pack_frame([1, {"protocol": "wirecall", "versions": [2], "peerName": "v2", "peerVersion": "0", "maxFrameSize": 1 << 20, "heartbeatMs": 0}]))
        data = await asyncio.wait_for(reader.read(), 5)
        assert P.decode_payload(data[4:]) == [3, "VERSION_MISMATCH", "server speaks protocol version 1; client offered 2"]
        writer.close()
        await server.close()

    run(body())


def test_graceful_close_drains_calls_in_flight() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        slow = asyncio.ensure_future(conn.call("sleep", 0.3))
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(conn.close())
        await asyncio.sleep(0.01)
        with pytest.raises(ConnectionClosed):
            await conn.call("add", {"a": 1, "b": 2})
        assert await slow == "slept"
        await closing
        assert conn.state == "closed"
        await server.close()

    run(body())


def test_server_close_drains_and_fails_the_rest_at_the_drain_timeout() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        slow = asyncio.ensure_future(conn.call("sleep", 10))
        await asyncio.sleep(0.05)
        await server.close(drain_timeout=0.2)
        with pytest.raises(ConnectionClosed):
            await slow

    run(body())


def test_handshake_timeout_against_a_silent_server() -> None:
    async def body() -> None:
        async def silent(reader: Any, writer: Any) -> None:
            await asyncio.sleep(5)

        srv = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        with pytest.raises(HandshakeTimeout):
            await aio.connect(f"127.0.0.1:{port}", handshake_timeout=0.2)
        srv.close()

    run(body())


def test_heartbeat_declares_a_silent_peer_dead() -> None:
    async def body() -> None:
        async def mute(reader: Any, writer: Any) -> None:
            await reader.read(65536)
            writer.write(P.pack_frame([2, {"protocol": "wirecall", "version": 1, "peerName": "mute", "peerVersion": "0", "connectionId": "x", "maxFrameSize": 1 << 20, "heartbeatMs": 100}]))
            await asyncio.sleep(5)  # never answers anything again

        srv = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        conn = await aio.connect(f"127.0.0.1:{port}", heartbeat_interval=0.1)
        with pytest.raises(ConnectionLost, match="silent"):
            await conn.call("anything", timeout=5)
        srv.close()

    run(body())


def test_answers_pings_and_keeps_a_heartbeating_link_up() -> None:
    async def body() -> None:
        server = make_server(heartbeat_interval=0.1)
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep, heartbeat_interval=0.1)
        await asyncio.sleep(0.6)  # six intervals; each side is heard
        assert conn.is_open
        assert await conn.call("add", {"a": 1, "b": 2}) == 3
        await conn.close()
        await server.close()

    run(body())


def test_listen_and_connect_failures(tmp_path: Any) -> None:
    async def body() -> None:
        with pytest.raises(wirecall.ConnectionFailed):
            await aio.connect(f"unix:{tmp_path}/nobody.sock")
        with pytest.raises(wirecall.InvalidEndpoint):
            await aio.connect("tcp://localhost")
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        other = make_server()
        with pytest.raises(wirecall.AddressInUse):
            await other.listen(ep)
        # Unix: a live socket is in use, a stale one is replaced, a regular file is never touched.
        sock_path = f"{tmp_path}/live.sock"
        await server.listen(f"unix:{sock_path}")
        with pytest.raises(wirecall.AddressInUse):
            await other.listen(f"unix:{sock_path}")
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(f"{tmp_path}/stale.sock")
        stale.close()
        os.chmod(f"{tmp_path}/stale.sock", 0o777)
        assert (await other.listen(f"unix:{tmp_path}/stale.sock")).endswith("stale.sock")
        assert oct(os.stat(f"{tmp_path}/stale.sock").st_mode & 0o777) == "0o600"  # not the stale one's mode
        (tmp_path / "file.sock").write_text("keep me")
        with pytest.raises(wirecall.AddressInUse):
            await other.listen(f"unix:{tmp_path}/file.sock")
        assert (tmp_path / "file.sock").read_text() == "keep me"
        assert oct(os.stat(sock_path).st_mode & 0o777) == "0o600"
        await other.close()
        await server.close()

    run(body())


def test_size_limits_on_both_sides() -> None:
    async def body() -> None:
        server = make_server(max_frame_size=100_000, expose_stack=True)
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep, max_frame_size=100_000)
        with pytest.raises(wirecall.MessageTooLarge):
            await conn.call("echo", "x" * 200_000)  # over the server's limit: refused here, nothing sent
        server.register("big", lambda p: "r" * 150_000)
        with pytest.raises(RemoteError) as info:
            await conn.call("big")
        assert (info.value.status, info.value.remote_name) == (Status.RESOURCE_EXHAUSTED, "FrameTooLarge")
        with pytest.raises(RemoteError) as info:
            await conn.call("fail")
        assert info.value.remote_stack is not None and "KeyError" in info.value.remote_stack
        assert await conn.call("add", {"a": 1, "b": 2}) == 3  # the connection is fine
        await conn.close()
        await server.close()

    run(body())


def test_asyncio_server_with_an_executor_gives_thread_handlers_a_blocking_connection() -> None:
    import concurrent.futures
    import threading

    async def body() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(4)
        server = aio.Server(executor=pool)

        def ask(p: Any, ctx: wirecall.CallContext) -> Any:
            assert threading.current_thread() is not threading.main_thread()
            return ctx.connection.call("tick", {"n": p}) + 1  # blocks this worker, not the loop

        server.register("ask", ask)
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep, handlers={"tick": lambda p: p["n"] * 10})
        assert await conn.call("ask", 4) == 41
        await conn.close()
        await server.close()
        pool.shutdown()

    run(body())


@pytest.mark.parametrize(
    "answer,reason",
    [
        ([48, 0], "ERR_PROTOCOL: expected WELCOME or REJECT as the first frame, got message type 48"),
        ([2, {"protocol": "wirecall", "version": 2, "peerName": "s", "peerVersion": "0", "connectionId": "x", "maxFrameSize": 1 << 20, "heartbeatMs": 0}], "ERR_PROTOCOL: server chose unsupported protocol wirecall/2"),
        ([2, {"protocol": "wirecall", "version": 1}], "ERR_PROTOCOL: malformed WELCOME message"),
    ],
)
def test_client_refuses_a_bad_handshake_answer(answer: Any, reason: str) -> None:
    from wirecall import protocol as P

    async def body() -> None:
        told: "asyncio.Future[Any]" = asyncio.get_running_loop().create_future()

        async def bad(reader: Any, writer: Any) -> None:
            await reader.read(65536)  # the HELLO
            writer.write(P.pack_frame(answer))
            data = await reader.read(65536)
            told.set_result([P.decode_payload(p) for p in P.FrameDecoder().feed(data)])

        srv = await asyncio.start_server(bad, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        with pytest.raises(wirecall.ProtocolError):
            await aio.connect(f"127.0.0.1:{port}")
        assert await asyncio.wait_for(told, 5) == [[50, reason]]
        srv.close()

    run(body())
