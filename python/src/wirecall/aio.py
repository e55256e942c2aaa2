"""wirecall for asyncio: ``connect()``, ``Server``, ``Connection``.

::

    server = Server(name="calc")

    @server.method("add")
    def add(params):
        return params["a"] + params["b"]

    endpoint = await server.listen("tcp://127.0.0.1:0")
    conn = await connect(endpoint)
    assert await conn.call("add", {"a": 2, "b": 3}) == 5
    await conn.close()
    await server.close()
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
import math
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Set, Tuple

from . import core as C
from . import protocol as P
from .core import ConnectionCore, IncomingCall, Options, PeerInfo, StreamState
from .endpoint import Endpoint, format_endpoint, parse_endpoint, pipe_path
from .errors import (
    AddressInUse,
    CallCancelled,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionTimeout,
    DeadlineExceeded,
    HandshakeRejected,
    HandshakeTimeout,
    InvalidOption,
    LimitExceeded,
    NotSupported,
    StreamClosed,
    WirecallError,
)
from .handlers import (
    BIDI_STREAM,
    CLIENT_STREAM,
    SERVER_STREAM,
    UNARY,
    CallContext,
    Handler,
    HandlerRegistry,
    error_from_body,
    error_to_body,
    not_found_body,
)

__all__ = ["connect", "Server", "Connection", "CallContext", "Runner"]

LINGER = 2.0
AUTH_MAX_FAILURES = 20
AUTH_BAN_TIME = 60.0
HIGH_WATER = 256 * 1024
LOW_WATER = 128 * 1024
MAX_WRITE_BUFFER = 64 * 1024 * 1024

Runner = Callable[[Handler, Tuple[Any, ...]], Awaitable[Any]]
"""How a server runs a *sync* handler: ``await runner(handler, args)``. None runs it inline on the loop."""


def _timeout_ms(timeout: Optional[float]) -> Optional[int]:
    if timeout is None or timeout == math.inf:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0 or timeout != timeout:
        raise InvalidOption(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    return min(math.ceil(timeout * 1000), P.MAX_UINT32)


def executor_runner(executor: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> Runner:
    """A Runner that hands sync handlers to ``executor``: a concurrent.futures.Executor, or a callable
    ``run(fn, *args) -> result`` that runs ``fn`` somewhere else and blocks until it is done (what
    Maya's ``maya.utils.executeInMainThreadWithResult`` is). A callable is called from a worker
    thread of its own, so the event loop never blocks on it."""
    if isinstance(executor, concurrent.futures.Executor):

        async def run_in(handler: Handler, args: Tuple[Any, ...]) -> Any:
            return await asyncio.get_running_loop().run_in_executor(executor, _call_with, handler.fn, args)

        run_in.submit = lambda fn, args: executor.submit(_call_with, fn, args)  # type: ignore[attr-defined]
        return run_in
    if not callable(executor):
        raise InvalidOption("executor must be a concurrent.futures.Executor or a callable run(fn, *args)")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="wirecall-dispatch")

    async def run_through(handler: Handler, args: Tuple[Any, ...]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, _call_through, executor, handler.fn, args)

    run_through.submit = lambda fn, args: pool.submit(_call_through, executor, fn, args)  # type: ignore[attr-defined]
    return run_through


def _call_with(fn: Callable[..., Any], args: Tuple[Any, ...]) -> Any:
    return fn(*args)


def _call_through(executor: Callable[..., Any], fn: Callable[..., Any], args: Tuple[Any, ...]) -> Any:
    return executor(fn, *args)


class _Waiter:
    """An outgoing call: its future (asyncio callers) or callback (blocking callers), deadline timer and method."""

    __slots__ = ("future", "timer", "method", "id", "callback")

    def __init__(self, future: "Optional[asyncio.Future[Any]]", method: str, callback: Optional[Callable[[Any, Optional[BaseException]], None]] = None) -> None:
        self.future = future
        self.timer: Optional[asyncio.TimerHandle] = None
        self.method = method
        self.id = 0
        self.callback = callback

    def settle(self, value: Any, error: Optional[BaseException]) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        cb = self.callback
        if cb is not None:
            self.callback = None
            cb(value, error)
            return
        f = self.future
        if f is not None and not f.done():
            if error is not None:
                f.set_exception(error)
            else:
                f.set_result(value)


class Connection(asyncio.Protocol):
    """One wirecall connection, either side. Either side may call the other.

    Use :func:`connect` for a client; a :class:`Server` makes one per accepted socket.
    """

    def __init__(
        self,
        role: str,
        options: Options,
        handlers: HandlerRegistry,
        *,
        runner: Optional[Runner] = None,
        on_notification: Optional[Callable[[str, Any], Any]] = None,
        context_connection: Optional[Callable[["Connection"], Any]] = None,
        server: Optional["Server"] = None,
    ) -> None:
        self._loop = asyncio.get_event_loop()
        self._loop_thread = threading.current_thread()
        self._options = options
        self._handlers = handlers
        self._runner = runner
        self._on_notification = on_notification
        if context_connection is None and runner is not None:
            context_connection = _blocking_face  # thread handlers call back through a blocking face
        self._context_connection = context_connection
        self._server = server
        self.core = ConnectionCore(role, options)
        self.transport: Optional[asyncio.Transport] = None
        self._flush_pending = False
        self._handshake: "asyncio.Future[PeerInfo]" = self._loop.create_future()
        self._closed: "asyncio.Future[Optional[BaseException]]" = self._loop.create_future()
        self._drained: Optional[asyncio.Event] = None
        self._draining: Optional["asyncio.Task[None]"] = None
        self._timers: List[asyncio.TimerHandle] = []
        self._tick_handle: Optional[asyncio.TimerHandle] = None
        self._last_ping = 0.0
        self._pings: Dict[int, "asyncio.Future[float]"] = {}
        self._close_error: Optional[WirecallError] = None
        self._paused_reading = False
        self._write_paused = False
        self._write_paused_since = 0.0
        self._credit_waiters: Dict[int, List["asyncio.Future[None]"]] = {}
        self._heard = False
        self._refusal: Optional[str] = None
        self.address = ""
        # Nobody awaits a server connection's handshake: its failure must not be reported as unretrieved.
        self._handshake.add_done_callback(lambda f: f.cancelled() or f.exception())

    # ------------------------------------------------------------------ public

    @property
    def peer(self) -> Optional[PeerInfo]:
        """What the peer said about itself in the handshake."""
        return self.core.peer

    @property
    def state(self) -> str:
        """``pending``, ``connected``, ``closing`` or ``closed``."""
        return self.core.state

    @property
    def is_open(self) -> bool:
        return self.core.state == "connected"

    def register(self, method: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Serves ``method`` on this connection (the peer may call it). Usable as a decorator."""
        if fn is None:

            def deco(f: Callable[..., Any]) -> Callable[..., Any]:
                self._handlers.register(method, f)
                return f

            return deco
        self._handlers.register(method, fn)
        return fn

    def register_stream(self, method: str, fn: Callable[..., Any]) -> None:
        """Serves a server stream on this connection (the peer may open it): see Server.register_stream."""
        self._handlers.register(method, fn, SERVER_STREAM)

    def register_client_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._handlers.register(method, fn, CLIENT_STREAM)

    def register_bidi_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._handlers.register(method, fn, BIDI_STREAM)

    async def call(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> Any:
        """Calls ``method`` on the peer and returns its result.

        Raises RemoteError (the peer's error status), DeadlineExceeded (``timeout`` seconds
        passed; the call is cancelled on the peer), ConnectionClosed/ConnectionLost,
        MessageTooLarge or InvalidArgument (nothing sent). Cancelling the awaiting task
        sends CANCEL: the peer's handler is cancelled.
        """
        waiter = self._start_call(method, params, timeout, self._loop.create_future(), None)
        try:
            return await waiter.future  # type: ignore[misc]
        except asyncio.CancelledError:
            self._forget(waiter)
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()

    def _start_call(self, method: str, params: Any, timeout: Optional[float], future: "Optional[asyncio.Future[Any]]", callback: Any) -> _Waiter:
        """Sends a CALL (on the loop's thread); the answer settles ``future`` or calls ``callback(value, error)``."""
        if timeout is None:
            timeout = self._options.default_timeout
        timeout_ms = _timeout_ms(timeout)
        waiter = _Waiter(future, method, callback)
        waiter.id = self.core.start_call(method, params, timeout_ms, waiter)
        if len(self.core.outgoing) == 1 and not self._flush_pending:
            self._flush()  # alone in flight: write now, a loop iteration sooner
        else:
            self._schedule_flush()  # others are being made: coalesce them into one write
        if timeout_ms is not None:
            waiter.timer = self._loop.call_later(timeout, self._deadline, waiter.id, waiter)  # type: ignore[arg-type]
        return waiter

    def _forget(self, waiter: _Waiter) -> None:
        """The caller gave up (task cancelled): CANCEL goes to the peer."""
        if waiter.timer is not None:
            waiter.timer.cancel()
            waiter.timer = None
        waiter.callback = None
        if self.core.forget_call(waiter.id):
            self._schedule_flush()
            self._check_drained()

    def notify(self, method: str, params: Any = None) -> None:
        """Sends a notification: no answer, no error from the peer."""
        self.core.notify(method, params)
        self._schedule_flush()

    async def ping(self, timeout: float = 10.0) -> float:
        """Round trip to the peer, in seconds."""
        nonce = self.core.ping()
        self._schedule_flush()
        future: "asyncio.Future[float]" = self._loop.create_future()
        self._pings[nonce] = future
        start = time.perf_counter()
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"no pong within {int(timeout * 1000)} ms") from None
        finally:
            self._pings.pop(nonce, None)
        return time.perf_counter() - start

    async def close(self, drain_timeout: Optional[float] = None) -> None:
        """Graceful: SHUTDOWN, let calls in flight in both directions finish (up to
        ``drain_timeout`` seconds, default the option), then close. Idempotent."""
        if self.core.state == "connected":
            self.core.shutdown()
            self._flush()
            self._start_drain(drain_timeout)
        elif self.core.state == "pending":
            self._terminate(ConnectionClosed("connection closed before the handshake completed"))
        await self.wait_closed()

    def abort(self) -> None:
        """Closes at once, sending nothing; everything in flight fails with ConnectionClosed."""
        self._terminate(ConnectionClosed("connection destroyed"))

    async def wait_closed(self) -> Optional[BaseException]:
        """Waits until the connection is closed; returns the error that closed it, if any."""
        return await asyncio.shield(self._closed)

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ------------------------------------------------------------------ streams (caller side)

    def stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "OutgoingStream":
        """Opens a server stream: ``async for message in conn.stream("count", {"n": 5})``; then ``.result``."""
        return self._open(method, params, timeout, P.SERVER_STREAM, window)

    def client_stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "OutgoingStream":
        """Opens a client stream: ``await s.write(m)`` …, ``s.end()``, ``await s.result()``."""
        return self._open(method, params, timeout, P.CLIENT_STREAM, window)

    def bidi_stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "OutgoingStream":
        """Opens a bidirectional stream: write/end as a client stream, iterate as a server stream."""
        return self._open(method, params, timeout, P.BIDI_STREAM, window)

    def _open(self, method: str, params: Any, timeout: Optional[float], kind: int, window: Optional[Tuple[int, int]]) -> "OutgoingStream":
        if timeout is None:
            timeout = self._options.default_timeout
        timeout_ms = _timeout_ms(timeout)
        s = OutgoingStream(self, method, kind)
        s._state = self.core.open_stream(method, params, timeout_ms, kind, window, s)
        self._schedule_flush()
        if timeout_ms is not None:
            s._timer = self._loop.call_later(timeout, s._deadline)  # type: ignore[arg-type]
        return s

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        try:
            transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)  # type: ignore[attr-defined]
        except Exception:
            pass
        peername = transport.get_extra_info("peername")
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if isinstance(peername, tuple):
                host = peername[0]
                self.address = f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
        else:
            self.address = "unix" if not peername else str(peername)
        self.core.address = self.address
        server = self._server
        if server is not None and self._refusal is not None:
            self.core._queue([P.REJECT, "UNAVAILABLE", self._refusal])
            self.core.state = "closed"
            self._flush()
            self._half_close_and_linger()
            return
        if server is not None and self.core.state == "pending":
            banned = server._banned_for(self.address)
            if banned > 0:
                self.core._queue([P.REJECT, "UNAUTHENTICATED", f"too many failed handshakes from {_host_of(self.address)}; refused for another {math.ceil(banned)} s"])
                self.core.state = "closed"
                self._flush()
                self._half_close_and_linger()
                return
        if server is not None:
            server._pending_opened(self)
        self.core.start()
        self._flush()
        self._timers.append(self._loop.call_later(self._options.handshake_timeout, self._handshake_timeout))

    def data_received(self, data: bytes) -> None:
        self._heard = True
        events = self.core.receive_data(data)
        if events:
            self._flush_pending = True  # answers made while handling are written once, below
            try:
                self._handle(events)
            finally:
                self._flush_pending = False
        self._flush()
        if self.core.state == "closing":
            self._check_drained()

    def eof_received(self) -> bool:
        core = self.core
        if core.state == "closing" and core.incoming:
            return True  # the peer is done sending; our answers still go out, then we close
        if core.state == "closing":
            self._terminate(None)
        elif core.state == "pending":
            self._terminate(ConnectionClosed("connection closed before the handshake completed"))
        else:
            self._terminate(ConnectionLost("connection lost (the peer closed the connection)"))
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.core.state == "closed" and self._closed.done():
            return
        if self.core.state == "closing":
            reason = self.core.shutdown_reason
            self._terminate(None if exc is None else ConnectionClosed(f"peer closed the connection ({exc})"), reason)
        elif self.core.state == "pending":
            self._terminate(ConnectionClosed("connection closed before the handshake completed"))
        elif self.core.state == "closed":
            self._terminate(self._close_error)
        else:
            self._terminate(ConnectionLost(f"connection lost ({exc})" if exc else "connection lost"))

    def pause_writing(self) -> None:
        # The peer does not read its answers: stop reading its calls, unless calls or
        # streams of our own wait on it (what we would read may be their answers).
        self._write_paused = True
        self._write_paused_since = time.monotonic()
        t = self.transport
        if t is not None and not self.core.outgoing and not self._paused_reading:
            try:
                t.pause_reading()
                self._paused_reading = True
            except Exception:
                pass
        if t is not None and t.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self._terminate(LimitExceeded("peer does not read its answers (write buffer over the limit)"))

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            try:
                self.transport.resume_reading()
            except Exception:
                pass
        for key in list(self._credit_waiters):
            self._wake_credit(key)

    # ------------------------------------------------------------------ internals

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data = self.core.data_to_send()
        t = self.transport
        if data and t is not None and not t.is_closing():
            t.write(data)
            if self._write_paused and t.get_write_buffer_size() > MAX_WRITE_BUFFER:
                # Answers of calls already running kept coming for a peer that reads none: cut at once.
                self._terminate(LimitExceeded("peer does not read its answers (maxWriteBuffer)"))

    def _handle(self, events: List[Tuple[Any, ...]]) -> None:
        for ev in events:
            kind = ev[0]
            if kind == C.EV_RESULT:
                w = ev[1]
                if isinstance(w, _Waiter):
                    w.settle(ev[2], None)
                else:
                    w.waiter._finish(ev[2], None)
            elif kind == C.EV_CALL:
                self._on_call(ev[1])
            elif kind == C.EV_ERROR:
                w = ev[1]
                error = error_from_body(ev[2], ev[3])
                if isinstance(w, _Waiter):
                    w.settle(None, error)
                else:
                    w.waiter._finish(None, error)
            elif kind == C.EV_NOTIFY:
                self._on_notify(ev[1], ev[2])
            elif kind == C.EV_CANCEL:
                ctx = ev[1].handle
                if ctx is not None:
                    ctx._abort(CallCancelled("cancelled by the caller"))
            elif kind == C.EV_STREAM_MESSAGE:
                s = ev[1]
                if s.outgoing:
                    s.waiter._push(ev[2], ev[3])
                elif s.handle is not None:
                    s.handle.inbox._push(ev[2], ev[3])
            elif kind == C.EV_STREAM_END:
                s = ev[1]
                if s.handle is not None:
                    s.handle.inbox._end()
            elif kind == C.EV_CREDIT:
                self._wake_credit(id(ev[1]))
            elif kind == C.EV_STREAM_OPEN:
                self._on_stream_open(ev[1])
            elif kind == C.EV_PONG:
                f = self._pings.get(ev[1])
                if f is not None and not f.done():
                    f.set_result(time.perf_counter())
            elif kind == C.EV_CONNECTED:
                self._on_connected()
            elif kind == C.EV_SHUTDOWN:
                self._start_drain(None)
            elif kind == C.EV_REJECTED:
                err = HandshakeRejected(ev[1], ev[2])
                if not self._handshake.done():
                    self._handshake.set_exception(err)
                self._terminate(err)
            elif kind == C.EV_REFUSED:
                self._refused(ev[1], ev[2], ev[3])
            elif kind == C.EV_FATAL:
                self._fatal(ev[1])

    def _on_connected(self) -> None:
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if not self._handshake.done():
            self._handshake.set_result(self.core.peer)  # type: ignore[arg-type]
        self._last_ping = time.monotonic()
        self._schedule_tick()
        if self._server is not None:
            self._server._connected(self)

    def _refused(self, reason: str, message: str, auth: bool) -> None:
        delay = self._server._auth_delay(self.address) if (self._server is not None and auth) else 0.0
        if delay > 0:
            data = self.core.data_to_send()

            def later() -> None:
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.write(data)
                self._half_close_and_linger()

            self._timers.append(self._loop.call_later(delay, later))
        else:
            self._flush()
            self._half_close_and_linger()

    def _half_close_and_linger(self, error: Optional[WirecallError] = None) -> None:
        """Close our side (EOF), drop the socket LINGER seconds later if the peer has not, and finish."""
        t = self.transport
        if t is not None and not t.is_closing():
            try:
                if t.can_write_eof():
                    t.write_eof()
            except Exception:
                pass
            self._loop.call_later(LINGER, t.abort)
        self._finish_closed(error if error is not None else ConnectionClosed("handshake refused"))

    def _fatal(self, error: WirecallError) -> None:
        # The reason is the last frame we write; then close our side and let the peer go.
        self._flush()
        self._close_error = error
        if not self._handshake.done():
            self._handshake.set_exception(error)
        self._fail_everything(error)
        self._half_close_and_linger(error)

    def _handshake_timeout(self) -> None:
        if self.core.state == "pending":
            err = HandshakeTimeout(f"handshake did not complete within {int(self._options.handshake_timeout * 1000)} ms")
            if not self._handshake.done():
                self._handshake.set_exception(err)
            self._terminate(err)

    def _schedule_tick(self) -> None:
        interval = self._options.heartbeat_interval
        step = min(interval, 1.0) if interval > 0 else 1.0
        self._tick_handle = self._loop.call_later(step, self._tick)

    def _tick(self) -> None:
        core = self.core
        if core.state not in ("connected", "closing"):
            return
        now = time.monotonic()
        own = self._options.heartbeat_interval
        if self._write_paused and now - self._write_paused_since > self._options.slow_peer_timeout:
            # Over the high-water mark with nothing read by the peer for that long: cut, no reason frame.
            self._terminate(LimitExceeded(f"peer read none of our frames for {int(self._options.slow_peer_timeout * 1000)} ms (slowPeerTimeout)"))
            return
        if core.partial_since is not None and now - core.partial_since > self._options.frame_timeout:
            events = core.fail(LimitExceeded(f"a frame was not completed within {int(self._options.frame_timeout * 1000)} ms (frameTimeout; {core.partial_bytes} bytes of it arrived)"))
            self._handle(events)
            return
        if own > 0:
            peer_ms = core.peer.heartbeat_ms if core.peer else 0
            allowed = 3 * max(own, peer_ms / 1000.0)
            silent = now - core.last_heard
            if silent > allowed and not self._paused_reading:
                self._terminate(ConnectionLost(f"peer silent for {int(silent * 1000)} ms (3 heartbeat intervals of {int(allowed * 1000 / 3)} ms)"))
                return
            if now - self._last_ping >= own - 0.001:
                self._last_ping = now
                core.heartbeat()
                self._flush()
        self._schedule_tick()

    def _deadline(self, id: int, waiter: _Waiter) -> None:
        waiter.timer = None
        if self.core.forget_call(id):
            self._schedule_flush()
            waiter.settle(None, DeadlineExceeded(f"call {id} exceeded its deadline"))
            self._check_drained()

    # incoming calls ------------------------------------------------------------

    def _ctx_connection(self, handler: Handler) -> Any:
        if self._context_connection is not None and not handler.is_async:
            return self._context_connection(self)
        return self

    def _on_call(self, call: IncomingCall) -> None:
        handler = self._handlers.get(call.method)
        if handler is None or handler.kind != UNARY:
            self.core.send_error(call, 12, not_found_body(call.method, handler.kind if handler else None, UNARY))
            return
        ctx = CallContext(self._ctx_connection(handler), call.method, call.params, call.timeout_ms)
        ctx.peer = self.core.peer
        ctx.call = call
        call.handle = ctx
        if call.timeout_ms is not None:
            ctx.timer = self._loop.call_later(call.timeout_ms / 1000.0, self._expire, call)
        args = (call.params, ctx) if handler.wants_ctx else (call.params,)
        if handler.is_async:
            ctx.task = self._loop.create_task(self._run_async(handler, args, call, ctx))
        elif self._runner is None:
            try:
                result = handler.fn(*args)
            except Exception as e:
                self._answer_error(call, ctx, e)
                return
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                ctx.task = self._loop.create_task(self._await_result(result, call, ctx))
            else:
                self._answer(call, ctx, result)
        else:
            submit = getattr(self._runner, "submit", None)
            if submit is None:
                ctx.task = self._loop.create_task(self._run_async(handler, args, call, ctx, self._runner))
            else:  # straight to the executor, the answer through a callback: no Task per call
                future = submit(handler.fn, args)
                ctx.task = future
                future.add_done_callback(lambda f: self._loop.call_soon_threadsafe(self._thread_done, call, ctx, f))

    def _thread_done(self, call: IncomingCall, ctx: CallContext, future: "concurrent.futures.Future[Any]") -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._answer_error(call, ctx, error)
        else:
            self._answer(call, ctx, future.result())

    async def _await_result(self, awaitable: Any, call: IncomingCall, ctx: CallContext) -> None:
        try:
            result = await awaitable
        except asyncio.CancelledError:
            return
        except Exception as e:
            self._answer_error(call, ctx, e)
            return
        self._answer(call, ctx, result)

    async def _run_async(self, handler: Handler, args: Tuple[Any, ...], call: IncomingCall, ctx: CallContext, runner: Optional[Runner] = None) -> None:
        try:
            if runner is not None:
                result = await runner(handler, args)
            else:
                result = await handler.fn(*args)
        except asyncio.CancelledError:
            return
        except Exception as e:
            self._answer_error(call, ctx, e)
            return
        self._answer(call, ctx, result)

    def _answer(self, call: IncomingCall, ctx: CallContext, result: Any) -> None:
        if ctx.timer is not None:
            ctx.timer.cancel()
            ctx.timer = None
        if self.core.send_result(call, result):
            self._schedule_flush()
            self._check_drained()

    def _answer_error(self, call: IncomingCall, ctx: CallContext, e: BaseException) -> None:
        if ctx.timer is not None:
            ctx.timer.cancel()
            ctx.timer = None
        status, body = error_to_body(e, self._options.expose_stack)
        if self.core.send_error(call, status, body):
            self._schedule_flush()
            self._check_drained()

    def _expire(self, call: IncomingCall) -> None:
        ctx = call.handle
        if self.core.expire(call):
            self._schedule_flush()
            if ctx is not None:
                ctx.timer = None
                ctx._abort(DeadlineExceeded(f"deadline of {call.method} passed"))
            self._check_drained()

    def _on_notify(self, method: str, params: Any) -> None:
        if self._on_notification is not None:
            try:
                self._on_notification(method, params)
            except Exception:
                pass
        handler = self._handlers.get(method)
        if handler is None or handler.kind != UNARY:
            return
        ctx = CallContext(self._ctx_connection(handler), method, params, None, True)
        ctx.peer = self.core.peer
        args = (params, ctx) if handler.wants_ctx else (params,)
        if handler.is_async:
            self._loop.create_task(_swallow(handler.fn(*args)))
        elif self._runner is None:
            try:
                result = handler.fn(*args)
                if asyncio.iscoroutine(result):
                    self._loop.create_task(_swallow(result))
            except Exception:
                pass
        else:
            self._loop.create_task(_swallow(self._runner(handler, args)))

    # incoming streams ----------------------------------------------------------

    def _on_stream_open(self, s: StreamState) -> None:
        wanted = {P.SERVER_STREAM: SERVER_STREAM, P.CLIENT_STREAM: CLIENT_STREAM, P.BIDI_STREAM: BIDI_STREAM}[s.kind]
        handler = self._handlers.get(s.method)
        if handler is None or handler.kind != wanted:
            self.core.send_error(s, 12, not_found_body(s.method, handler.kind if handler else None, wanted))
            return
        ctx = StreamContext(self._ctx_connection(handler), s.method, s.params, s.timeout_ms)
        ctx.peer = self.core.peer
        ctx.call = s
        ctx.inbox = StreamInbox(self, s)
        s.handle = ctx
        if s.timeout_ms is not None:
            ctx.timer = self._loop.call_later(s.timeout_ms / 1000.0, self._expire, s)
        ctx.task = self._loop.create_task(self._run_stream(handler, s, ctx))

    async def _run_stream(self, handler: Handler, s: StreamState, ctx: "StreamContext") -> None:
        try:
            if s.kind == P.SERVER_STREAM:
                args: Tuple[Any, ...] = (s.params, ctx) if handler.wants_ctx else (s.params,)
            else:
                args = (ctx.inbox, s.params, ctx)[: handler.args]
            if s.kind == P.CLIENT_STREAM:
                if handler.is_async:
                    result = await handler.fn(*args)
                elif self._runner is not None:
                    if self._context_connection is not None:
                        args = (ctx.inbox.blocking(),) + args[1:]
                    result = await self._runner(handler, args)
                else:
                    result = handler.fn(*args)
                    if asyncio.iscoroutine(result):
                        result = await result
            else:
                if s.kind == P.BIDI_STREAM and not handler.is_async and self._context_connection is not None:
                    args = (ctx.inbox.blocking(),) + args[1:]
                if handler.is_async or self._runner is None or inspect.isgeneratorfunction(handler.fn):
                    produced = handler.fn(*args)  # an async or sync generator: nothing of it runs yet
                else:
                    produced = await self._runner(handler, args)  # a plain function: where handlers run
                result = await self._pump(s, ctx, produced)
        except asyncio.CancelledError:
            return
        except Exception as e:
            ctx.inbox._discard()
            self._answer_error(s, ctx, e)
            return
        ctx.inbox._discard()
        self._answer(s, ctx, result)

    async def _pump(self, s: StreamState, ctx: "StreamContext", produced: Any) -> Any:
        """Sends what a server/bidi handler yields, as credit allows; returns its return value."""
        if hasattr(produced, "__anext__"):
            agen = produced
            result = None
            try:
                while True:
                    await self._wait_credit(s)
                    try:
                        value = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    self._send_stream_message(s, value)
                return result
            finally:
                await agen.aclose()
        if hasattr(produced, "__next__") or hasattr(produced, "__iter__"):
            it = iter(produced)
            result = None
            try:
                while True:
                    await self._wait_credit(s)
                    if self._runner is not None:
                        done, value, ret = await self._runner(_NEXT_HANDLER, (it,))
                    else:
                        done, value, ret = _next(it)
                    if done:
                        result = ret
                        break
                    self._send_stream_message(s, value)
                return result
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
        raise TypeError(f"handler of {s.method} must return an iterable or an async iterable (write it as a generator)")

    def _send_stream_message(self, s: StreamState, value: Any) -> None:
        from .errors import InvalidArgument, MessageTooLarge, RemoteError

        try:
            self.core.stream_send(s, value)
        except MessageTooLarge as e:
            raise RemoteError(8, f"a message of {s.method} is {e.size} bytes, over the caller's limit of {e.limit}", remote_name="FrameTooLarge") from None
        except InvalidArgument as e:
            raise RemoteError(13, f"a message of {s.method} cannot be encoded: {e}", remote_name="EncodeError") from None
        self._schedule_flush()

    def _credit_changed(self, key: int) -> "asyncio.Future[None]":
        """A future set when the credit of stream ``key`` (or the socket's room) may have grown."""
        f: "asyncio.Future[None]" = self._loop.create_future()
        self._credit_waiters.setdefault(key, []).append(f)
        return f

    def _wake_credit(self, key: int) -> None:
        for f in self._credit_waiters.pop(key, ()):
            if not f.done():
                f.set_result(None)

    async def _wait_credit(self, s: StreamState) -> None:
        while not self.core.can_send(s) or self._write_paused:
            if self.core.state == "closed":
                raise ConnectionClosed(self.core._closed_message())
            await self._credit_changed(id(s))

    # closing -------------------------------------------------------------------

    def _start_drain(self, drain_timeout: Optional[float]) -> None:
        if self._draining is not None:
            return
        self._drained = asyncio.Event()
        timeout = self._options.drain_timeout if drain_timeout is None else drain_timeout
        self._draining = self._loop.create_task(self._drain(timeout))
        self._check_drained()

    def _check_drained(self) -> None:
        if self._drained is not None and self.core.idle and self.core.state == "closing":
            self._drained.set()

    async def _drain(self, timeout: float) -> None:
        assert self._drained is not None
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
            error: Optional[WirecallError] = ConnectionClosed("connection closed")
        except asyncio.TimeoutError:
            error = ConnectionClosed(f"connection closed; drain timeout of {int(timeout * 1000)} ms passed")
        if self.core.state == "closed":
            return
        self._flush()
        self._fail_everything(error)  # type: ignore[arg-type]
        t = self.transport
        if t is not None and not t.is_closing():
            try:
                if t.can_write_eof():
                    t.write_eof()
                else:
                    t.close()
            except Exception:
                t.close()
            self._loop.call_later(LINGER, t.abort)
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), LINGER + 0.5)
        except asyncio.TimeoutError:
            self._terminate(None)

    def _fail_everything(self, error: WirecallError) -> None:
        core = self.core
        for w in list(core.outgoing.values()):
            if isinstance(w, _Waiter):
                w.settle(None, error)
            else:
                w.waiter._finish(None, error)
        core.outgoing.clear()
        for call in list(core.incoming.values()):
            if call.handle is not None:
                call.handle._abort(error)
        core.incoming.clear()
        for f in self._pings.values():
            if not f.done():
                f.set_exception(error)
        for key in list(self._credit_waiters):
            self._wake_credit(key)

    def _terminate(self, error: Optional[WirecallError], reason: Optional[str] = None) -> None:
        """The byte stream is over (or we end it now)."""
        if error is None:
            error = ConnectionClosed(f"peer closed the connection ({reason})" if reason else "connection closed")
        if self._close_error is None:
            self._close_error = error
        self.core.close()
        if not self._handshake.done():
            self._handshake.set_exception(error)
        self._fail_everything(self._close_error)
        t = self.transport
        if t is not None and not t.is_closing():
            t.abort()
        self._finish_closed(self._close_error)

    def _finish_closed(self, error: Optional[BaseException]) -> None:
        self.core.close()
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if not self._closed.done():
            self._closed.set_result(error)
        if self._server is not None:
            self._server._disconnected(self)


#: The blocking face that handlers running on threads see as ``ctx.connection``; set by
#: ``wirecall.blocking`` when it is imported (the package's ``__init__`` does), so that
#: this module never imports it (``blocking`` is built on this one).
_blocking_face: Optional[Callable[["Connection"], Any]] = None


def set_blocking_face(face: Callable[["Connection"], Any]) -> None:
    """Called by wirecall.blocking: how a thread handler's ``ctx.connection`` is made."""
    global _blocking_face
    _blocking_face = face


async def _swallow(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except BaseException:
        pass


def _next(it: Any) -> Tuple[bool, Any, Any]:
    try:
        return False, next(it), None
    except StopIteration as stop:
        return True, None, stop.value


_NEXT_HANDLER = Handler("<next>", _next)


# ------------------------------------------------------------------ streams


class StreamContext(CallContext):
    """The context of a stream handler: a CallContext plus its ``inbox`` of the caller's messages."""

    __slots__ = ("inbox",)
    inbox: "StreamInbox"


class StreamInbox:
    """The caller's messages of a client or bidi stream, as the handler reads them:
    ``async for m in messages`` (asyncio) or ``for m in messages`` (a handler on a thread)."""

    def __init__(self, conn: Connection, s: StreamState) -> None:
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
        import threading

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

    def __init__(self, conn: Connection, method: str, kind: int) -> None:
        self._conn = conn
        self.method = method
        self.kind = kind
        self._state: StreamState = None  # type: ignore[assignment]
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


# ------------------------------------------------------------------ client


async def _open_transport(loop: asyncio.AbstractEventLoop, factory: Callable[[], Connection], endpoint: Endpoint) -> None:
    if endpoint.kind == "tcp":
        await loop.create_connection(factory, endpoint.host, endpoint.port)
    elif endpoint.kind == "unix":
        await loop.create_unix_connection(factory, endpoint.path)
    else:
        if sys.platform == "win32":
            create_pipe = getattr(loop, "create_pipe_connection", None)
            if create_pipe is None:
                raise NotSupported("named pipes need the proactor event loop")
            await create_pipe(factory, pipe_path(endpoint.name))
        else:
            await loop.create_unix_connection(factory, pipe_path(endpoint.name))


async def connect(
    endpoint: str,
    *,
    handlers: Optional[Dict[str, Callable[..., Any]]] = None,
    connect_timeout: float = 10.0,
    runner: Optional[Runner] = None,
    executor: Any = None,
    on_notification: Optional[Callable[[str, Any], Any]] = None,
    _context_connection: Optional[Callable[[Connection], Any]] = None,
    **options: Any,
) -> Connection:
    """Connects and completes the handshake; returns the open Connection.

    ``handlers``: methods the peer may call back on us. ``options``: ``name``, ``version``,
    ``token``, ``max_frame_size``, ``heartbeat_interval`` (s), ``handshake_timeout``,
    ``drain_timeout``, ``max_concurrent_calls``, ``stream_window``, ``default_timeout``…
    Raises InvalidEndpoint, ConnectionFailed, ConnectionTimeout, HandshakeTimeout,
    HandshakeRejected.
    """
    ep = parse_endpoint(endpoint)
    opts = Options(**options)
    registry = HandlerRegistry()
    registry.update(handlers)
    if executor is not None and runner is None:
        runner = executor_runner(executor)
    loop = asyncio.get_running_loop()
    conn = Connection("client", opts, registry, runner=runner, on_notification=on_notification, context_connection=_context_connection)
    try:
        await asyncio.wait_for(_open_transport(loop, lambda: conn, ep), connect_timeout)
    except asyncio.TimeoutError:
        raise ConnectionTimeout(f"connect to {format_endpoint(ep)} did not finish within {int(connect_timeout * 1000)} ms") from None
    except WirecallError:
        raise
    except OSError as e:
        raise ConnectionFailed(f"cannot connect to {format_endpoint(ep)}: {e.strerror or e}") from None
    try:
        await conn._handshake
    except asyncio.CancelledError:
        conn.abort()
        raise
    return conn


# ------------------------------------------------------------------ server


class Server:
    """Serves methods on one or more endpoints.

    ::

        server = Server(name="maya-bridge", token="s3cret")
        server.register("scene.name", lambda params: "shot010.mb")

        @server.method("scene.open")
        async def scene_open(params, ctx):
            ok = await ctx.connection.call("confirm", {"question": "open?"})
            return {"opened": ok, "by": ctx.peer.name}

        endpoint = await server.listen("tcp://127.0.0.1:0")
    """

    def __init__(
        self,
        handlers: Optional[Dict[str, Callable[..., Any]]] = None,
        *,
        runner: Optional[Runner] = None,
        executor: Any = None,
        max_connections: int = 1000,
        max_pending_handshakes: int = 64,
        socket_mode: int = 0o600,
        on_connection: Optional[Callable[[Connection], Any]] = None,
        on_notification: Optional[Callable[[str, Any], Any]] = None,
        _context_connection: Optional[Callable[[Connection], Any]] = None,
        **options: Any,
    ) -> None:
        self.options = Options(**options)
        self.handlers = HandlerRegistry()
        self.handlers.update(handlers)
        if executor is not None and runner is None:
            runner = executor_runner(executor)
        self._runner = runner
        self._max_connections = max_connections
        self._max_pending_handshakes = max_pending_handshakes
        if socket_mode not in (0o600, 0o660):
            raise InvalidOption(f"socket_mode must be 0o600 or 0o660, got {socket_mode!r}")
        self._socket_mode = socket_mode
        self._pending: Dict[Connection, float] = {}
        self._on_connection = on_connection
        self._on_notification = on_notification
        self._context_connection = _context_connection
        self._servers: List[asyncio.AbstractServer] = []
        self._paths: List[str] = []
        self._dirs: List[str] = []
        self._pipe_servers: List[Any] = []
        self._all: Set[Connection] = set()
        self.connections: Set[Connection] = set()
        self._closing = False
        self._auth_failures: Dict[str, Tuple[int, float, float]] = {}  # host -> (failures, last, banned until)
        self.endpoints: List[str] = []

    def register(self, method: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Serves ``method``: ``fn(params)`` or ``fn(params, ctx)``, sync or async. Usable as a decorator."""
        if fn is None:
            return self.method(method)
        self.handlers.register(method, fn)
        return self

    def method(self, name: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@server.method()`` (the function's name) or ``@server.method("scene.open")``."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers.register(name or fn.__name__, fn)
            return fn

        return deco

    def register_stream(self, method: str, fn: Callable[..., Any]) -> "Server":
        """Server stream: ``fn(params[, ctx])`` returns an (async) iterator; each item is one message."""
        self.handlers.register(method, fn, SERVER_STREAM)
        return self

    def register_client_stream(self, method: str, fn: Callable[..., Any]) -> "Server":
        """Client stream: ``fn(messages[, params[, ctx]])`` reads the messages, returns one result."""
        self.handlers.register(method, fn, CLIENT_STREAM)
        return self

    def register_bidi_stream(self, method: str, fn: Callable[..., Any]) -> "Server":
        """Bidirectional stream: ``fn(messages[, params[, ctx]])`` returns an (async) iterator."""
        self.handlers.register(method, fn, BIDI_STREAM)
        return self

    def _factory(self) -> Connection:
        conn = Connection(
            "server",
            self.options,
            self.handlers,
            runner=self._runner,
            on_notification=self._on_notification,
            context_connection=self._context_connection,
            server=self,
        )
        self._all.add(conn)
        if self._closing or len(self._all) > self._max_connections:
            conn._refusal = "server is shutting down" if self._closing else f"server is at its connection limit (maxConnections {self._max_connections})"
        return conn

    def _pending_opened(self, conn: Connection) -> None:
        """Makes room for a new handshake: drops the oldest connection silent (no HELLO) for longer
        than a well-meaning client takes, if maxPendingHandshakes are pending (as src/rpc/server.ts)."""
        now = time.monotonic()
        if len(self._pending) >= self._max_pending_handshakes:
            grace = min(1.0, self.options.handshake_timeout / 5)
            for other, accepted_at in list(self._pending.items()):
                if now - accepted_at < grace:
                    break
                if not other._heard and other.core.state == "pending":
                    other._terminate(LimitExceeded(f"dropped: silent for {int((now - accepted_at) * 1000)} ms while {len(self._pending)} handshakes were pending (maxPendingHandshakes)"))
                    break
        self._pending[conn] = now

    def _connected(self, conn: Connection) -> None:
        self._pending.pop(conn, None)
        self._auth_failures.pop(_host_of(conn.address), None)
        self.connections.add(conn)
        if self._on_connection is not None:
            try:
                self._on_connection(conn)
            except Exception:
                pass

    def _disconnected(self, conn: Connection) -> None:
        self._pending.pop(conn, None)
        self.connections.discard(conn)
        self._all.discard(conn)

    def _auth_delay(self, address: str) -> float:
        """A failed handshake from ``address``: seconds to hold its REJECT (100 ms doubling to 3 s);
        after 20 failures in a row a network address is refused at connect for 60 s (as src/rpc/auth-throttle.ts)."""
        host = _host_of(address)
        now = time.monotonic()
        failures, last, banned_until = self._auth_failures.get(host, (0, now, 0.0))
        if now - last > AUTH_BAN_TIME:
            failures, banned_until = 0, 0.0
        failures += 1
        if host != "local" and failures >= AUTH_MAX_FAILURES:
            banned_until = now + AUTH_BAN_TIME
            failures = 0
        self._auth_failures.pop(host, None)
        self._auth_failures[host] = (failures, now, banned_until)
        if len(self._auth_failures) > 10_000:
            self._auth_failures.pop(next(iter(self._auth_failures)))
        return min(3.0, 0.1 * 2 ** min(30, max(0, failures - 1)))

    def _banned_for(self, address: str) -> float:
        record = self._auth_failures.get(_host_of(address))
        return 0.0 if record is None else max(0.0, record[2] - time.monotonic())

    async def listen(self, endpoint: Optional[str] = None) -> str:
        """Starts listening; returns the endpoint actually bound (``tcp://127.0.0.1:0`` → the real port).
        No endpoint: a fresh Unix socket in a private directory."""
        loop = asyncio.get_running_loop()
        if self._closing:
            raise ConnectionClosed("server is closed")
        if endpoint is None:
            d = tempfile.mkdtemp(prefix="wirecall-")
            self._dirs.append(d)
            ep = Endpoint("unix", path=os.path.join(d, f"{uuid.uuid4().hex[:12]}.sock"))
        else:
            ep = parse_endpoint(endpoint)
        if ep.kind == "tcp":
            try:
                srv = await loop.create_server(self._factory, ep.host, ep.port, reuse_address=True)
            except OSError as e:
                if e.errno in (98, 48, 10048):
                    raise AddressInUse(f"{format_endpoint(ep)} is already in use") from None
                raise ConnectionFailed(f"cannot listen on {format_endpoint(ep)}: {e.strerror or e}") from None
            sock = srv.sockets[0]
            host, port = sock.getsockname()[:2]
            bound = format_endpoint(Endpoint("tcp", host=ep.host, port=port))
        else:
            if ep.kind == "pipe" and sys.platform == "win32":  # pragma: no cover - Windows only, untested here
                start = getattr(loop, "start_serving_pipe", None)
                if start is None:
                    raise NotSupported("Windows named pipes need the proactor event loop (the default since Python 3.8)")
                pipes = await start(self._factory, pipe_path(ep.name))
                self._pipe_servers.extend(pipes)
                bound = format_endpoint(ep)
                self.endpoints.append(bound)
                return bound
            path = ep.path if ep.kind == "unix" else pipe_path(ep.name)
            sock = await _bind_unix(path, self._socket_mode)
            srv = await loop.create_unix_server(self._factory, sock=sock)
            self._paths.append(path)
            bound = format_endpoint(ep)
        self._servers.append(srv)
        self.endpoints.append(bound)
        return bound

    async def close(self, drain_timeout: Optional[float] = None) -> None:
        """Stops listening, closes every connection gracefully (drain), removes socket files."""
        self._closing = True
        for srv in self._servers:
            srv.close()
        for pipe in self._pipe_servers:
            pipe.close()
        self._pipe_servers.clear()
        for path in self._paths:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._paths.clear()
        for d in self._dirs:
            try:
                os.rmdir(d)
            except OSError:
                pass
        self._dirs.clear()
        conns = list(self._all)
        if conns:
            await asyncio.gather(*(c.close(drain_timeout) for c in conns), return_exceptions=True)
        for srv in self._servers:
            try:
                await asyncio.wait_for(srv.wait_closed(), 1.0)
            except (asyncio.TimeoutError, Exception):
                pass
        self._servers.clear()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _host_of(address: str) -> str:
    if address in ("unix", "") or address.startswith("unix"):
        return "local"
    if address.startswith("["):
        return address[1 : address.find("]")]
    return address.rsplit(":", 1)[0] if ":" in address else address


async def _bind_unix(path: str, mode: int = 0o600) -> socket.socket:
    """A listening Unix socket at ``path``, created 0600 in a private directory and linked into place.
    A leftover socket nobody answers on is removed; a live one is AddressInUse; other files are never touched."""
    import stat as st

    if os.path.lexists(path):
        mode = os.lstat(path).st_mode
        if not st.S_ISSOCK(mode):
            raise AddressInUse(f"unix:{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(probe, path)
            live = True
        except OSError:
            live = False
        finally:
            probe.close()
        if live:
            raise AddressInUse(f"unix:{path} is already in use")
        os.unlink(path)
    parent = os.path.dirname(path) or "."
    private = tempfile.mkdtemp(prefix=".wirecall-", dir=parent)
    tmp = os.path.join(private, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(tmp)
        os.chmod(tmp, mode)
        sock.listen(511)
        os.rename(tmp, path)
    except OSError as e:
        sock.close()
        raise ConnectionFailed(f"cannot listen on unix:{path}: {e.strerror or e}") from None
    finally:
        try:
            os.rmdir(private)
        except OSError:
            pass
    sock.setblocking(False)
    return sock
