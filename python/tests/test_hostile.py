"""Bad input against the Python server: the same answers as from the TypeScript server
(PROTOCOL.md 13.2), and one bad client never disturbs the others."""

from __future__ import annotations

import asyncio
from typing import Any, List, Tuple

import pytest

from wirecall import aio, aio_server
from wirecall import protocol as P

from conftest import run

HELLO = [1, {"protocol": "wirecall", "versions": [1], "peerName": "raw", "peerVersion": "0", "maxFrameSize": 1 << 20, "heartbeatMs": 0}]


async def raw(port: int, data: bytes, hello: bool = True, wait: float = 3.0) -> Tuple[List[Any], bool]:
    """Sends ``data`` (after a HELLO), returns the frames the server sent and whether it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if hello:
        writer.write(P.pack_frame(HELLO))
    writer.write(data)
    await writer.drain()
    got: List[Any] = []
    d = P.FrameDecoder(1 << 24)
    closed = False
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), wait)
            if not chunk:
                closed = True
                break
            got += [P.decode_payload(p) for p in d.feed(chunk)]
    except asyncio.TimeoutError:
        pass
    writer.close()
    return got, closed


async def serve(**options: Any) -> Tuple[aio.Server, int]:
    server = aio.Server(name="py", **options)
    server.register("add", lambda p: p["a"] + p["b"])

    async def sleep(p: Any) -> Any:
        await asyncio.sleep(p)

    server.register("sleep", sleep)
    ep = await server.listen("tcp://127.0.0.1:0")
    return server, int(ep.rsplit(":", 1)[1])


def test_oversize_prefix_before_and_after_the_handshake() -> None:
    async def body() -> None:
        server, port = await serve()
        got, closed = await raw(port, (70000).to_bytes(4, "big"), hello=False)
        assert got == [[3, "PROTOCOL", 'ERR_PROTOCOL: peer does not speak the wirecall protocol (its first bytes: "...p")']] and closed
        got, closed = await raw(port, (16 * 1024 * 1024 + 1).to_bytes(4, "big"))
        assert got[1:] == [[50, "ERR_FRAME_TOO_LARGE: incoming frame of 16777217 bytes exceeds the limit of 16777216 bytes"]] and closed
        await server.close()

    run(body())


def test_garbage_gets_the_reference_reasons() -> None:
    async def body() -> None:
        server, port = await serve()
        cases = [
            (b"\x00\x00\x00\x00", "ERR_PROTOCOL: empty frame"),
            (b"\x00\x00\x00\x01\xc1", "ERR_PROTOCOL: undecodable MessagePack payload: reserved byte 0xc1"),
            (b"\x00\x00\x00\x04\x92\x30\x00\x00", "ERR_PROTOCOL: undecodable MessagePack payload: trailing bytes after the MessagePack value"),
            (P.pack_frame([99]), "ERR_PROTOCOL: unknown message type 99"),
            (P.pack_frame([16, 1, "add", {}]), "ERR_PROTOCOL: malformed CALL message"),
            (P.pack_frame({"a": 1}), "ERR_PROTOCOL: frame is not a wirecall message (expected an array starting with a type number)"),
            (bytes.fromhex("00000006931101d47200"), "ERR_PROTOCOL: extension type 114 is not allowed (only the timestamp extension, -1)"),
            (P.pack_frame([16, 7, "sleep", 1, None]) + P.pack_frame([16, 7, "sleep", 1, None]), "ERR_PROTOCOL: peer reused call id 7 while that call was still running"),
        ]
        for data, reason in cases:
            got, closed = await raw(port, data)
            assert got[0][0] == 2, reason
            assert got[-1] == [50, reason] and closed
        got, closed = await raw(port, P.pack_frame([16, 1, "add", None, None]), hello=False)
        assert got == [[3, "PROTOCOL", "ERR_PROTOCOL: expected HELLO as the first frame, got message type 16"]] and closed
        got, closed = await raw(port, b"GET / HTTP/1.1\r\n\r\n", hello=False)
        assert got[0][:2] == [3, "PROTOCOL"] and closed
        await server.close()

    run(body())


def test_silent_client_is_cut_at_the_handshake_timeout() -> None:
    async def body() -> None:
        server, port = await serve(handshake_timeout=0.3)
        loop = asyncio.get_running_loop()
        start = loop.time()
        got, closed = await raw(port, b"", hello=False)
        assert got == [] and closed
        assert 0.25 < loop.time() - start < 2.5
        await server.close()

    run(body())


def test_flood_past_the_concurrency_limit_is_refused_then_cut() -> None:
    async def body() -> None:
        server, port = await serve(max_concurrent_calls=4, max_refused_per_second=20)
        flood = b"".join(P.pack_frame([16, i, "sleep", 5, None]) for i in range(1, 40))
        got, closed = await raw(port, flood)
        refusals = [m for m in got if m[0] == 18]
        assert refusals[0][2:] == [8, {"name": "ResourceExhausted", "message": "too many concurrent calls (limit 4)"}]
        assert got[-1] == [50, "ERR_LIMIT_EXCEEDED: peer kept calling past the concurrency limit (4): over 20 refusals within a second (maxRefusedPerSecond)"]
        assert closed
        await server.close()

    run(body())


def test_a_slow_frame_is_cut_with_limit_exceeded() -> None:
    async def body() -> None:
        server, port = await serve(frame_timeout=0.3)
        got, closed = await raw(port, b"\x00\x00\x01\x00\x95")
        assert got[-1] == [50, "ERR_LIMIT_EXCEEDED: a frame was not completed within 300 ms (frameTimeout; 5 bytes of it arrived)"]
        assert closed
        await server.close()

    run(body())


def test_one_bad_client_never_disturbs_the_others() -> None:
    async def body() -> None:
        server, port = await serve(handshake_timeout=0.5)
        good = await aio.connect(f"tcp://127.0.0.1:{port}")

        async def bad() -> None:
            for data in [b"\x00\x00\x00\x00", (1 << 30).to_bytes(4, "big"), b"\xff" * 100, b""]:
                await raw(port, data, hello=bool(data), wait=1.0)

        async def calls() -> List[int]:
            out = []
            for i in range(200):
                out.append(await good.call("add", {"a": i, "b": 1}))
                await asyncio.sleep(0.002)
            return out

        results, _ = await asyncio.gather(calls(), asyncio.gather(*(bad() for _ in range(5))))
        assert results == [i + 1 for i in range(200)]
        await good.close()
        await server.close()

    run(body())


def test_failed_handshakes_are_slowed_then_banned(monkeypatch: "pytest.MonkeyPatch") -> None:
    from wirecall import HandshakeRejected

    monkeypatch.setattr(aio_server, "AUTH_MAX_FAILURES", 3)  # where the Server reads it

    async def body() -> None:
        server, port = await serve(token="right")
        loop = asyncio.get_running_loop()
        delays = []
        for _ in range(3):
            start = loop.time()
            with pytest.raises(HandshakeRejected) as info:
                await aio.connect(f"127.0.0.1:{port}", token="wrong")
            assert info.value.reason == "UNAUTHENTICATED"
            delays.append(loop.time() - start)
        assert delays[0] >= 0.09 and delays[1] >= 0.19  # 100 ms, then doubling
        with pytest.raises(HandshakeRejected) as info:
            await aio.connect(f"127.0.0.1:{port}", token="right")
        assert "too many failed handshakes from 127.0.0.1; refused for another" in str(info.value)
        await server.close()

    run(body())


def test_a_peer_that_reads_none_of_its_answers_is_cut() -> None:
    async def body() -> None:
        server, port = await serve(slow_peer_timeout=0.5)
        server.register("echo", lambda p: p)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        import socket as s

        sock.setsockopt(s.SOL_SOCKET, s.SO_RCVBUF, 4096)
        writer.write(P.pack_frame(HELLO))
        big = "x" * 60_000
        for i in range(1, 200):  # ~12 MB of answers it never reads
            writer.write(P.pack_frame([16, i, "echo", big, None]))
        try:
            await writer.drain()
        except ConnectionError:
            pass
        await asyncio.sleep(0.1)
        reader._transport.pause_reading()  # type: ignore[attr-defined]  # and stops reading for good
        loop = asyncio.get_running_loop()
        start = loop.time()
        while server.connections and loop.time() - start < 5:
            await asyncio.sleep(0.05)
        assert not server.connections  # cut, while the server stays up for others
        good = await aio.connect(f"127.0.0.1:{port}")
        assert await good.call("add", {"a": 1, "b": 2}) == 3
        await good.close()
        writer.close()
        await server.close()

    run(body())


def test_a_full_server_rejects_unavailable_and_silent_handshakes_make_room() -> None:
    async def body() -> None:
        server, port = await serve(max_connections=2)
        a = await aio.connect(f"127.0.0.1:{port}")
        b = await aio.connect(f"127.0.0.1:{port}")
        got, closed = await raw(port, b"", hello=False, wait=2)
        assert got == [[3, "UNAVAILABLE", "server is at its connection limit (maxConnections 2)"]] and closed
        await a.close()
        await b.close()
        await server.close()

        server, port = await serve(max_pending_handshakes=2, handshake_timeout=5)
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(1.1)  # older than the grace (min(1 s, handshake_timeout / 5))
        conn = await aio.connect(f"127.0.0.1:{port}")  # the oldest silent one makes room
        assert await asyncio.wait_for(silent[0][0].read(), 2) == b""  # dropped, nothing sent
        assert await conn.call("add", {"a": 1, "b": 1}) == 2
        await conn.close()
        for _, w in silent:
            w.close()
        await server.close()

    run(body())


async def echo_peer_with_small_buffers() -> Tuple[aio.Server, Any, asyncio.StreamWriter, Any]:
    """A server with `echo`, and a raw client after its HELLO: (server, the server's
    connection, the client's writer, the client's transport). Kernel buffers are small on
    both ends (32 KiB), so the server's own write buffer is what fills."""
    import socket as s

    server, port = await serve(slow_peer_timeout=30)
    server.register("echo", lambda p: p)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 26)
    writer.get_extra_info("socket").setsockopt(s.SOL_SOCKET, s.SO_RCVBUF, 32768)
    writer.write(P.pack_frame(HELLO))
    await writer.drain()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not server.connections and loop.time() < deadline:
        await asyncio.sleep(0.01)
    conn: Any = next(iter(server.connections))
    conn.transport.get_extra_info("socket").setsockopt(s.SOL_SOCKET, s.SO_SNDBUF, 32768)
    return server, conn, writer, reader._transport  # type: ignore[attr-defined]


async def call_until_paused(conn: Any, writer: asyncio.StreamWriter, next_id: int) -> int:
    """Echo calls of 30 kB until the server stops reading (bounded); the next call id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not conn._write_paused and loop.time() < deadline:
        for _ in range(4):
            writer.write(P.pack_frame([16, next_id, "echo", "x" * 30_000, None]))
            next_id += 1
        await asyncio.sleep(0.02)
    assert conn._write_paused, "the server never felt the pressure"
    return next_id


def test_the_write_mark_starts_at_64_kib_and_doubles_each_time_the_peer_catches_up() -> None:
    from wirecall.aio_io import HIGH_WATER, START_WATER

    async def body() -> None:
        server, conn, writer, transport = await echo_peer_with_small_buffers()
        loop = asyncio.get_running_loop()
        marks = []
        next_id = 1
        for _ in range(4):
            transport.pause_reading()  # the client stops reading its answers...
            next_id = await call_until_paused(conn, writer, next_id)
            marks.append(conn.transport.get_write_buffer_limits())
            transport.resume_reading()  # ...then reads everything: the server's buffer empties
            deadline = loop.time() + 15
            while conn._write_paused and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert not conn._write_paused, (marks, next_id, conn.transport.get_write_buffer_size())
        assert marks == [(m // 2, m) for m in (START_WATER, 2 * START_WATER, HIGH_WATER, HIGH_WATER)]
        writer.close()
        await server.close()

    run(body())


def test_a_peer_that_never_reads_is_held_at_the_start_mark() -> None:
    async def body() -> None:
        server, conn, writer, transport = await echo_peer_with_small_buffers()
        transport.pause_reading()  # never reads an answer
        await call_until_paused(conn, writer, 1)
        await asyncio.sleep(0.3)
        assert conn._write_paused
        assert conn.transport.get_write_buffer_limits() == (32 * 1024, 64 * 1024)
        # What waits for it is the start mark plus the answers to the calls of the last read.
        assert conn.transport.get_write_buffer_size() < 64 * 1024 + 300_000
        writer.close()
        await server.close()

    run(body())
