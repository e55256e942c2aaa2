"""Streams on the asyncio side: the handler's view of a stream it serves (StreamContext and the
inbox of the caller's messages, read with ``async for`` or, on a thread, ``for``) and the caller's
view of a stream it opened (OutgoingStream)."""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any, Deque, Optional, Protocol, Tuple

from . import protocol as P
from .core import StreamState
from .errors import CallCancelled, DeadlineExceeded, StreamClosed
from .handlers import CallContext


class _StreamHost(Protocol):
    """What a stream needs of its connection (aio_connection imports this module, not the other way)."""

    core: Any
    _loop: asyncio.AbstractEventLoop
    _write_paused: bool

    def _schedule_flush(self) -> None: ...
    def _check_drained(self) -> None: ...
    def _credit_changed(self, key: int) -> "asyncio.Future[None]": ...
    def _wake_credit(self, key: int) -> None: ...

__all__ = ["StreamContext", "StreamInbox", "BlockingInbox", "OutgoingStream"]


class StreamContext(CallContext):
    """The context of a stream handler: a CallContext plus its ``inbox`` of the caller's messages."""

    __slots__ = ("inbox",)
    inbox: "StreamInbox"


class StreamInbox:
    """The caller's messages of a client or bidi stream, as the handler reads them:
    ``async for m in messages`` (asyncio) or ``for m in messages`` (a handler on a thread)."""

    def __init__(self, conn: _StreamHost, s: StreamState) -> None:
        self._conn = conn
        self._s = s
        self._items: Deque[Tuple[Any, int]] = collections.deque()
        self._ended = False
        self._discarded = False
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._blocking: Any = None

    def _push(self, value: Any, size: int) -> None:
        if self._discarded:
            self._conn.core.consumed(self._s, size)
            self._conn._schedule_flush()
            return
        self._items.append((value, size))
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._blocking is not None:
            self._blocking._wake()

    def _discard(self) -> None:
        """The handler is done reading: give back the credit of what is buffered, drop what comes."""
        if self._discarded:
            return
        self._discarded = True
        for _, size in self._items:
            self._conn.core.consumed(self._s, size)
        self._items.clear()
        self._conn._schedule_flush()

    def __aiter__(self) -> "StreamInbox":
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            if self._ended or self._discarded:
                raise StopAsyncIteration
            self._s.starved = True  # the reader waits: the window, not the reader, holds the stream back
            self._waiter = self._conn._loop.create_future()
            await self._waiter
        value, size = self._items.popleft()
        self._conn.core.consumed(self._s, size)
        self._conn._schedule_flush()
        return value

    def blocking(self) -> "BlockingInbox":
        self._blocking = BlockingInbox(self)
        return self._blocking


class BlockingInbox:
    """A StreamInbox read from a thread: ``for m in messages``."""

    def __init__(self, inbox: StreamInbox) -> None:
        self._inbox = inbox
        self._cond = threading.Condition()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def __iter__(self) -> "BlockingInbox":
        return self

    def __next__(self) -> Any:
        inbox = self._inbox
        loop = inbox._conn._loop
        with self._cond:
            while True:
                if inbox._items:
                    value, size = inbox._items.popleft()
                    loop.call_soon_threadsafe(self._consumed, size)
                    return value
                if inbox._ended or inbox._discarded:
                    raise StopIteration
                inbox._s.starved = True
                self._cond.wait(0.5)

    def _consumed(self, size: int) -> None:
        self._inbox._conn.core.consumed(self._inbox._s, size)
        self._inbox._conn._schedule_flush()


class OutgoingStream:
    """A stream this side opened. Iterate it (server, bidi), ``write``/``end`` it (client, bidi),
    ``await stream.result()`` for the handler's return value, ``cancel()`` to give up."""

    #: The core's state of the stream: set by the connection right after making this object
    #: (the core's open_stream needs this object, as the stream's waiter).
    _state: StreamState

    def __init__(self, conn: _StreamHost, method: str, kind: int) -> None:
        self._conn = conn
        self.method = method
        self.kind = kind
        self._timer: Optional[asyncio.TimerHandle] = None
        self._items: Deque[Tuple[Any, int]] = collections.deque()
        self._waiter: Optional["asyncio.Future[None]"] = None
        self._result: "asyncio.Future[Any]" = conn._loop.create_future()
        self._done = False
        self._error: Optional[BaseException] = None

    # the handler's answer
    def _finish(self, value: Any, error: Optional[BaseException]) -> None:
        if self._done:
            return
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        self._error = error
        if not self._result.done():
            if error is not None:
                self._result.set_exception(error)
                self._result.exception()  # marked retrieved: iteration reports it too
            else:
                self._result.set_result(value)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._conn._wake_credit(id(self._state))

    def _push(self, value: Any, size: int) -> None:
        self._items.append((value, size))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _deadline(self) -> None:
        self._timer = None
        if self._conn.core.forget_stream(self._state):
            self._conn._schedule_flush()
            self._items.clear()
            self._finish(None, DeadlineExceeded(f"{self.method}: stream exceeded its deadline"))
            self._conn._check_drained()

    async def result(self) -> Any:
        """The handler's return value (after every message), or its error."""
        return await asyncio.shield(self._result)

    def cancel(self) -> None:
        """Gives up: CANCEL is sent, the handler is cancelled, iteration ends with CallCancelled."""
        if self._conn.core.forget_stream(self._state):
            self._conn._schedule_flush()
            self._items.clear()
            self._finish(None, CallCancelled(f"{self.method}: stream cancelled"))
            self._conn._check_drained()

    async def write(self, value: Any) -> None:
        """Sends one message (client, bidi); waits while the handler's window is full."""
        if self.kind == P.SERVER_STREAM:
            raise StreamClosed(f"{self.method} is a server stream: the caller sends no messages")
        conn = self._conn
        while True:
            if self._done:
                raise self._error if self._error is not None else StreamClosed(f"{self.method}: the stream is over")
            if self._state.caller_done:
                raise StreamClosed(f"{self.method}: write after end()")
            if conn.core.can_send(self._state) and not conn._write_paused:
                break
            await conn._credit_changed(id(self._state))
        conn.core.stream_send(self._state, value)
        conn._schedule_flush()

    def end(self) -> None:
        """No more messages from the caller (CALLER_END)."""
        if self.kind == P.SERVER_STREAM or self._done:
            return
        self._conn.core.stream_end(self._state)
        self._conn._schedule_flush()

    def __aiter__(self) -> "OutgoingStream":
        if self.kind == P.CLIENT_STREAM:
            raise StreamClosed(f"{self.method} is a client stream: it has no messages to read, await result()")
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            if self._done:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._state.starved = True
            self._waiter = self._conn._loop.create_future()
            try:
                await self._waiter
            except asyncio.CancelledError:
                self.cancel()
                raise
        value, size = self._items.popleft()
        if not self._done:
            self._conn.core.consumed(self._state, size)
            self._conn._schedule_flush()
        return value

    async def aclose(self) -> None:
        """Stops reading early: the stream is cancelled unless it is over."""
        if not self._done:
            self.cancel()

    async def __aenter__(self) -> "OutgoingStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

