"""Streams with credit flow control (asyncio), over real sockets."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, List

import pytest

import wirecall
from wirecall import aio
from wirecall import CallCancelled, DeadlineExceeded, RemoteError, StreamClosed

from conftest import run


def make_server(**options: Any) -> aio.Server:
    server = aio.Server(name="streams", **options)
    state: dict = {"produced": 0, "closed": []}
    server.state = state  # type: ignore[attr-defined]

    async def count(p: Any) -> AsyncIterator[int]:
        try:
            for i in range(p["n"]):
                state["produced"] = i + 1
                yield i
        finally:
            state["closed"].append("count")

    def gen(p: Any) -> Any:
        for i in range(p):
            yield i * i
        return "squares"

    async def total(messages: Any) -> int:
        t = 0
        async for m in messages:
            t += m
        return t

    async def chat(messages: Any) -> AsyncIterator[Any]:
        async for m in messages:
            yield f"echo: {m}"

    async def boom(p: Any) -> AsyncIterator[int]:
        yield 1
        raise RemoteError(wirecall.Status.INVALID_ARGUMENT, "stop")

    server.register_stream("count", count)
    server.register_stream("squares", gen)
    server.register_client_stream("sum", total)
    server.register_bidi_stream("chat", chat)
    server.register_stream("boom", boom)
    server.register("add", lambda p: p["a"] + p["b"])
    return server


def test_server_client_and_bidi_streams() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        assert [m async for m in conn.stream("count", {"n": 2000})] == list(range(2000))
        s = conn.stream("squares", 5)
        assert [m async for m in s] == [0, 1, 4, 9, 16]
        assert await s.result() == "squares"
        c = conn.client_stream("sum")
        for i in range(3000):
            await c.write(i)
        c.end()
        assert await c.result() == sum(range(3000))
        with pytest.raises(StreamClosed):
            await c.write(1)
        b = conn.bidi_stream("chat")
        await b.write("hi")
        await b.write(None)
        b.end()
        assert [m async for m in b] == ["echo: hi", "echo: None"]
        b2 = conn.stream("boom")
        got = []
        with pytest.raises(RemoteError) as info:
            async for m in b2:
                got.append(m)
        assert got == [1] and info.value.status == 3
        with pytest.raises(RemoteError) as info:
            await conn.call("count", {"n": 1})
        assert info.value.message == "count is a server-stream method, not a unary one; open it with stream()"
        await conn.close()
        await server.close()

    run(body())


def test_slow_consumer_holds_the_producer_to_its_window() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        s = conn.stream("count", {"n": 100_000}, window=(8, 1 << 20))
        it = s.__aiter__()
        assert await it.__anext__() == 0
        await asyncio.sleep(0.3)
        # The handler is not resumed without credit: at most one window (and a half) ahead.
        assert server.state["produced"] <= 8 + 4 + 1
        for expected in range(1, 50):
            assert await it.__anext__() == expected
        await asyncio.sleep(0.2)
        assert server.state["produced"] <= 50 + 8 + 1
        await s.aclose()  # stops reading early: cancels the stream
        await asyncio.sleep(0.2)
        assert "count" in server.state["closed"]
        assert await conn.call("add", {"a": 1, "b": 1}) == 2
        await conn.close()
        await server.close()

    run(body())


def test_stream_deadline_and_cancel() -> None:
    async def body() -> None:
        server = make_server()
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        s = conn.stream("count", {"n": 10**9}, timeout=0.2, window=(4, 1024))
        with pytest.raises(DeadlineExceeded):
            async for _ in s:
                await asyncio.sleep(0.01)
        s2 = conn.stream("count", {"n": 10**9})
        await s2.__anext__()
        s2.cancel()
        with pytest.raises(CallCancelled):
            await s2.result()
        await conn.close()
        await server.close()

    run(body())


def test_client_writes_wait_for_credit() -> None:
    async def body() -> None:
        started = asyncio.Event()
        release = asyncio.Event()
        received: List[Any] = []
        server = aio.Server(stream_window=(4, 1 << 20))

        async def slow_sum(messages: Any) -> int:
            started.set()
            await release.wait()
            async for m in messages:
                received.append(m)
            return len(received)

        server.register_client_stream("slow", slow_sum)
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)
        c = conn.client_stream("slow")
        writes = asyncio.ensure_future(asyncio.gather(*[c.write(i) for i in range(20)]))
        await started.wait()
        await asyncio.sleep(0.2)
        assert not writes.done()  # 4 went, the rest wait for the handler to read
        release.set()
        await writes
        c.end()
        assert await c.result() == 20
        assert received == list(range(20))
        await conn.close()
        await server.close()

    run(body())


def test_the_server_opens_a_stream_to_its_client() -> None:
    async def body() -> None:
        server = aio.Server()

        async def gather(p: Any, ctx: wirecall.CallContext) -> Any:
            got = [m async for m in ctx.connection.stream("ticks", p)]
            up = ctx.connection.client_stream("collect")
            for m in got:
                await up.write(m * 2)
            up.end()
            return {"got": got, "collected": await up.result()}

        server.register("gather", gather)
        ep = await server.listen("tcp://127.0.0.1:0")
        conn = await aio.connect(ep)

        def ticks(n: Any) -> Any:
            yield from range(n)

        async def collect(messages: Any) -> Any:
            return [m async for m in messages]

        conn.register_stream("ticks", ticks)
        conn.register_client_stream("collect", collect)
        assert await conn.call("gather", 4) == {"got": [0, 1, 2, 3], "collected": [0, 2, 4, 6]}
        await conn.close()
        await server.close()

    run(body())
