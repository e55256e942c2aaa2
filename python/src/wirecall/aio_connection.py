"""One wirecall connection on asyncio, either side: the public face (call, notify, ping, streams,
close), the start of a connection (connection_made) and the routing of the core's events.
Reading and writing bytes is in ``aio_io``, serving the peer's calls in ``aio_dispatch``,
keeping alive and closing in ``aio_lifecycle``."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import math
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Protocol, Tuple, cast

from . import protocol as P
from . import aio_runners
from .aio_calls import _timeout_ms, _Waiter
from .aio_dispatch import _Dispatch
from .aio_io import HIGH_WATER as HIGH_WATER, LOW_WATER as LOW_WATER, READ_BUFFER, START_WATER, _Io
from .aio_lifecycle import _Lifecycle
from .aio_listen import _host_of
from .aio_runners import Runner
from .aio_streams import OutgoingStream
from .core import ConnectionCore, IncomingCall, Options, PeerInfo
from .core_types import EV_CALL, EV_CANCEL, EV_CONNECTED, EV_CREDIT, EV_ERROR, EV_FATAL, EV_NOTIFY, EV_PONG
from .core_types import EV_REFUSED, EV_REJECTED, EV_RESULT, EV_SHUTDOWN, EV_STREAM_END, EV_STREAM_MESSAGE, EV_STREAM_OPEN
from .errors import CallCancelled, ClientCertificateRequired, ConnectionClosed, DeadlineExceeded, HandshakeRejected, WirecallError
from .handlers import BIDI_STREAM, CLIENT_STREAM, SERVER_STREAM, CallContext, HandlerRegistry, error_from_body
from .tls_peer import client_cert_refusal, tls_peer


class _ServerLink(Protocol):
    """What a connection needs of the Server that accepted it (aio_server imports this module, not the other way)."""

    def _pending_opened(self, conn: "Connection") -> None: ...
    def _connected(self, conn: "Connection") -> None: ...
    def _disconnected(self, conn: "Connection") -> None: ...
    def _auth_delay(self, address: str) -> float: ...
    def _banned_for(self, address: str) -> float: ...
    def _connection_error(self, error: WirecallError, address: str) -> None: ...

__all__ = ["Connection"]


class Connection(_Lifecycle, _Dispatch, _Io, asyncio.BufferedProtocol):
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
        server: Optional[_ServerLink] = None,
    ) -> None:
        self._loop = asyncio.get_event_loop()
        self._loop_thread = threading.current_thread()
        self._options = options
        self._handlers = handlers
        self._runner = runner
        self._on_notification = on_notification
        if context_connection is None and runner is not None:
            context_connection = aio_runners.blocking_face()  # thread handlers call back through a blocking face
        self._context_connection = context_connection
        self._server = server
        self.core = ConnectionCore(role, options)
        self.transport: Optional[asyncio.Transport] = None
        self._read_view = memoryview(bytearray(READ_BUFFER))
        self._flush_pending = False
        self._threads_done: Deque[Tuple[IncomingCall, CallContext, "concurrent.futures.Future[Any]"]] = collections.deque()
        self._threads_done_woken = False
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
        self._write_mark = START_WATER
        self._credit_waiters: Dict[int, List["asyncio.Future[None]"]] = {}
        self._heard = False
        self._refusal: Optional[Tuple[str, str]] = None  # (REJECT reason, message) sent instead of WELCOME
        self._require_client_cert = False  # mutual TLS on a server: refuse clients without a certificate
        self._blocking_wrapper: Optional[object] = None  # wirecall.blocking's face of this connection, made once
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
        future: "asyncio.Future[Any]" = self._loop.create_future()
        waiter = self._start_call(method, params, timeout, future, None)
        try:
            return await future
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
        if timeout is not None and timeout_ms is not None:
            waiter.timer = self._loop.call_later(timeout, self._deadline, waiter.id, waiter)
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
        if timeout is not None and timeout_ms is not None:
            s._timer = self._loop.call_later(timeout, s._deadline)
        return s

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        t = cast(asyncio.Transport, transport)  # a stream transport (TCP, Unix socket or pipe)
        self.transport = t
        try:
            t.set_write_buffer_limits(high=self._write_mark, low=self._write_mark // 2)
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
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            self.core.tls = tls_peer(tls)
            if server is not None and self._require_client_cert and self._refusal is None:
                self._refusal = client_cert_refusal(tls, self.address)
                if self._refusal is not None:
                    server._connection_error(ClientCertificateRequired(self._refusal[1]), self.address)
        if server is not None and self._refusal is not None:
            self.core._queue([P.REJECT, *self._refusal])
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

    # ------------------------------------------------------------------ internals

    def _handle(self, events: List[Tuple[Any, ...]]) -> None:
        for ev in events:
            kind = ev[0]
            if kind == EV_RESULT:
                w = ev[1]
                if isinstance(w, _Waiter):
                    w.settle(ev[2], None)
                else:
                    w.waiter._finish(ev[2], None)
            elif kind == EV_CALL:
                self._on_call(ev[1])
            elif kind == EV_ERROR:
                w = ev[1]
                error = error_from_body(ev[2], ev[3])
                if isinstance(w, _Waiter):
                    w.settle(None, error)
                else:
                    w.waiter._finish(None, error)
            elif kind == EV_NOTIFY:
                self._on_notify(ev[1], ev[2])
            elif kind == EV_CANCEL:
                ctx = ev[1].handle
                if ctx is not None:
                    ctx._abort(CallCancelled("cancelled by the caller"))
            elif kind == EV_STREAM_MESSAGE:
                s = ev[1]
                if s.outgoing:
                    s.waiter._push(ev[2], ev[3])
                elif s.handle is not None:
                    s.handle.inbox._push(ev[2], ev[3])
            elif kind == EV_STREAM_END:
                s = ev[1]
                if s.handle is not None:
                    s.handle.inbox._end()
            elif kind == EV_CREDIT:
                self._wake_credit(id(ev[1]))
            elif kind == EV_STREAM_OPEN:
                self._on_stream_open(ev[1])
            elif kind == EV_PONG:
                f = self._pings.get(ev[1])
                if f is not None and not f.done():
                    f.set_result(time.perf_counter())
            elif kind == EV_CONNECTED:
                self._on_connected()
            elif kind == EV_SHUTDOWN:
                self._start_drain(None)
            elif kind == EV_REJECTED:
                err = HandshakeRejected(ev[1], ev[2])
                if not self._handshake.done():
                    self._handshake.set_exception(err)
                self._terminate(err)
            elif kind == EV_REFUSED:
                self._refused(ev[1], ev[2], ev[3])
            elif kind == EV_FATAL:
                self._fatal(ev[1])

    def _auth_delay(self) -> float:
        """How long to hold back the REJECT of a failed token (the Server's throttle)."""
        return self._server._auth_delay(self.address) if self._server is not None else 0.0

    def _detach_from_server(self) -> None:
        if self._server is not None:
            self._server._disconnected(self)

    def _on_connected(self) -> None:
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        peer = self.core.peer
        if not self._handshake.done() and peer is not None:  # (connected: the peer is known)
            self._handshake.set_result(peer)
        self._last_ping = time.monotonic()
        self._schedule_tick()
        if self._server is not None:
            self._server._connected(self)

    def _deadline(self, id: int, waiter: _Waiter) -> None:
        waiter.timer = None
        if self.core.forget_call(id):
            self._schedule_flush()
            waiter.settle(None, DeadlineExceeded(f"call {id} exceeded its deadline"))
            self._check_drained()
