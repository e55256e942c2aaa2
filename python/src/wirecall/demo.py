"""The demo methods of ``python -m wirecall serve`` (those of src/cli/demo-service.ts), as
asyncio handlers: echo, add, sleep, fail, methods, whoami, countdown, note, notes, and
the streams count, sum and chat. ``cancelled``, ``produced`` and ``sleeping`` are for the tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Dict, List

from .errors import RemoteError
from .handlers import CallContext
from .status import Status

__all__ = ["register_demo_methods"]

MAX_COUNTDOWN = 1000
MAX_COUNT = 1_000_000_000
MAX_NOTES = 100


class DemoFailure(Exception):
    """What ``fail`` raises: an application's own error, not one of wirecall's."""


def _invalid(message: str) -> RemoteError:
    return RemoteError(Status.INVALID_ARGUMENT, message)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(params: Any) -> str:
    if params is None:  # nil params reach a TypeScript handler as undefined: "nothing"
        return "nothing"
    try:
        return json.dumps(params, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(params)


def register_demo_methods(server: Any) -> Any:
    """Registers the demo methods on an aio.Server or a blocking Server; returns it."""
    notes: List[Any] = []
    cancelled: List[Dict[str, Any]] = []
    produced = {"count": 0, "sleeping": 0}

    def echo(params: Any) -> Any:
        return params

    def add(params: Any) -> Any:
        a: Any = params.get("a") if isinstance(params, dict) else None
        b: Any = params.get("b") if isinstance(params, dict) else None
        if not _number(a) or not _number(b):
            raise _invalid(f'add needs {{"a": number, "b": number}}, got {_show(params)}')
        return a + b

    async def sleep(params: Any, ctx: CallContext) -> Any:
        ms: Any = params.get("ms") if isinstance(params, dict) else None
        if not _number(ms) or ms < 0:
            raise _invalid(f'sleep needs {{"ms": number >= 0}}, got {_show(params)}')
        produced["sleeping"] += 1
        try:
            await asyncio.sleep(ms / 1000.0)
        except asyncio.CancelledError:
            cancelled.append({"method": "sleep", "reason": type(ctx.cancel_reason).__name__})
            raise
        finally:
            produced["sleeping"] -= 1
        return {"slept": ms}

    def fail(params: Any) -> Any:
        message = params.get("message") if isinstance(params, dict) and isinstance(params.get("message"), str) else "failed on purpose"
        raise DemoFailure(message)

    def methods(params: Any) -> Any:
        return server_handlers().methods()

    def whoami(params: Any, ctx: CallContext) -> Any:
        return ctx.peer.as_dict() if ctx.peer is not None else None

    async def countdown(params: Any, ctx: CallContext) -> Any:
        start = params.get("from") if isinstance(params, dict) else None
        if type(start) is not int or not 0 <= start <= MAX_COUNTDOWN:
            raise _invalid(f'countdown needs {{"from": integer 0..{MAX_COUNTDOWN}}}, got {_show(params)}')
        acks = []
        conn = ctx.connection
        for n in range(start, 0, -1):
            try:
                acks.append(await conn.call("countdown.tick", {"n": n}))
            except RemoteError as e:
                if e.status == Status.METHOD_NOT_FOUND:
                    raise RemoteError(Status.METHOD_ERROR, f"countdown calls countdown.tick back on the caller, which does not serve it ({e.message})") from None
                raise
        return {"from": start, "acks": acks}

    def note(params: Any) -> None:
        notes.append(params)
        del notes[: max(0, len(notes) - MAX_NOTES)]

    async def count(params: Any) -> AsyncIterator[int]:
        n = params.get("n") if isinstance(params, dict) else None
        if type(n) is not int or not 0 <= n <= MAX_COUNT:
            raise _invalid(f'count needs {{"n": integer 0..{MAX_COUNT}}}, got {_show(params)}')
        for i in range(n):
            produced["count"] = i + 1
            yield i

    async def total(messages: Any) -> Any:
        t: Any = 0
        async for m in messages:
            if not _number(m):
                raise _invalid(f"sum adds numbers, got {_show(m)}")
            t += m
        return t

    async def chat(messages: Any) -> AsyncIterator[Any]:
        async for m in messages:
            yield m

    def server_handlers() -> Any:
        return getattr(server, "handlers", None) or server.aio.handlers

    for name, fn in [
        ("echo", echo),
        ("add", add),
        ("sleep", sleep),
        ("fail", fail),
        ("methods", methods),
        ("whoami", whoami),
        ("countdown", countdown),
        ("note", note),
        ("notes", lambda params: list(notes)),
        ("cancelled", lambda params: list(cancelled)),
        ("produced", lambda params: produced["count"]),
        ("sleeping", lambda params: produced["sleeping"]),
    ]:
        server.register(name, fn)
    server.register_stream("count", count)
    server.register_client_stream("sum", total)
    server.register_bidi_stream("chat", chat)
    return server
