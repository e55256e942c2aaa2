"""A blocking connection (``Connection``), every method usable from any thread but the loop's;
``connect``; and ``_wrap``, the blocking face of an asyncio connection that thread handlers
see as ``ctx.connection``."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import aio
from .blocking_loop import _default_pool, _loop_thread, _LoopRef, _started
from .blocking_stream import BlockingStream, _open
from .core import PeerInfo


def _wrap(conn: aio.Connection) -> "Connection":
    """The blocking face of ``conn``, for handlers on other threads (its loop may be any loop)."""
    wrapper = conn._blocking_wrapper
    if not isinstance(wrapper, Connection):
        lt: Optional[_LoopRef] = _started()
        if lt is None or lt.loop is not conn._loop:
            lt = _LoopRef(conn._loop, conn._loop_thread)
        wrapper = Connection(conn, lt)
        conn._blocking_wrapper = wrapper
    return wrapper


class _Reply:
    """The answer to one blocking call: a lock held until the loop settles it (lighter than a
    concurrent.futures.Future, whose Condition costs more on both threads)."""

    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def settle(self, value: Any, error: Optional[BaseException]) -> None:
        self.value = value
        self.error = error
        self.done.release()


class Connection:
    """A blocking connection: every method may be called from any thread but the loop's."""

    def __init__(self, conn: aio.Connection, lt: _LoopRef) -> None:
        self._conn = conn
        self._lt = lt

    @property
    def aio(self) -> aio.Connection:
        """The asyncio connection underneath (use it only on the wirecall loop thread)."""
        return self._conn

    @property
    def peer(self) -> Optional[PeerInfo]:
        return self._conn.peer

    @property
    def state(self) -> str:
        return self._conn.state

    @property
    def is_open(self) -> bool:
        return self._conn.is_open

    def register(self, method: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Serves ``method`` on this connection (the peer may call it)."""
        return self._conn.register(method, fn)

    def register_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._conn.register_stream(method, fn)

    def register_client_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._conn.register_client_stream(method, fn)

    def register_bidi_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._conn.register_bidi_stream(method, fn)

    def call(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> Any:
        """Calls ``method`` on the peer and blocks for its result (see aio.Connection.call).
        Interrupted (KeyboardInterrupt), the call is cancelled on the peer."""
        lt = self._lt
        if threading.current_thread() is lt.thread:
            raise RuntimeError("a blocking wirecall call on the wirecall loop thread would deadlock; use wirecall.aio in async code")
        reply = _Reply()
        conn = self._conn
        started: List[Any] = []

        def start() -> None:
            try:
                started.append(conn._start_call(method, params, timeout, None, reply.settle))
            except BaseException as e:
                reply.settle(None, e)

        lt.loop.call_soon_threadsafe(start)
        try:
            reply.done.acquire()
        except BaseException:  # e.g. KeyboardInterrupt: the call is cancelled on the peer

            def give_up() -> None:
                if started:
                    conn._forget(started[0])

            lt.loop.call_soon_threadsafe(give_up)
            raise
        if reply.error is not None:
            raise reply.error
        return reply.value

    def call_async(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> "concurrent.futures.Future[Any]":
        """Starts a call; returns a Future. ``future.cancel()`` cancels the call on the peer."""
        return self._lt.submit(self._conn.call(method, params, timeout=timeout))

    def notify(self, method: str, params: Any = None) -> None:
        self._lt.run(_notify(self._conn, method, params))

    def ping(self, timeout: float = 10.0) -> float:
        """Round trip in seconds."""
        return self._lt.run(self._conn.ping(timeout))

    def stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "BlockingStream":
        """A server stream: ``for message in conn.stream("count", {"n": 5})``."""
        return BlockingStream(self._lt, self._lt.run(_open(self._conn.stream, method, params, timeout, window)))

    def client_stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "BlockingStream":
        return BlockingStream(self._lt, self._lt.run(_open(self._conn.client_stream, method, params, timeout, window)))

    def bidi_stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "BlockingStream":
        return BlockingStream(self._lt, self._lt.run(_open(self._conn.bidi_stream, method, params, timeout, window)))

    def close(self, drain_timeout: Optional[float] = None) -> None:
        """Graceful close with drain (see aio.Connection.close)."""
        self._lt.run(self._conn.close(drain_timeout))

    def abort(self) -> None:
        self._lt.loop.call_soon_threadsafe(self._conn.abort)

    def wait_closed(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return self._lt.run(self._conn.wait_closed(), timeout)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


async def _notify(conn: aio.Connection, method: str, params: Any) -> None:
    conn.notify(method, params)


def connect(
    endpoint: str,
    *,
    handlers: Optional[Dict[str, Callable[..., Any]]] = None,
    executor: Any = None,
    connect_timeout: float = 10.0,
    **options: Any,
) -> Connection:
    """Connects (blocking) and returns a :class:`Connection`. ``handlers`` are methods the
    peer may call back; they run on a worker pool, or through ``executor``."""
    lt = _loop_thread()
    runner = aio.executor_runner(executor if executor is not None else _default_pool())
    conn = lt.run(aio.connect(endpoint, handlers=handlers, connect_timeout=connect_timeout, runner=runner, _context_connection=_wrap, **options))
    return _wrap(conn)
