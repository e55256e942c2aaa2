"""The asyncio Server: handlers, listening on endpoints, the connections it accepted (limits on
connections and pending handshakes, the throttle of failed handshakes) and a graceful close."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from .aio_connection import Connection
from .aio_listen import _bind_unix, _host_of
from .aio_runners import Runner, executor_runner
from .aio_tls_listen import TlsListener, listening_socket
from .core import Options
from .endpoint import Endpoint, format_endpoint, parse_endpoint, pipe_path
from .errors import AddressInUse, ConnectionClosed, ConnectionFailed, InvalidOption, LimitExceeded, NotSupported, WirecallError
from .handlers import BIDI_STREAM, CLIENT_STREAM, SERVER_STREAM, HandlerRegistry
from .tls_options import requires_client_cert, server_context, tls_options
from .tls_peer import TLS_REQUIRED_REASON

__all__ = ["Server"]

AUTH_MAX_FAILURES = 20
AUTH_BAN_TIME = 60.0


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
        on_connection_error: Optional[Callable[[WirecallError, str], Any]] = None,
        _context_connection: Optional[Callable[[Connection], Any]] = None,
        tls: Any = None,
        **options: Any,
    ) -> None:
        self.options = Options(**options)
        # TLS (docs/TLS.md): an ssl.SSLContext, a TlsOptions or a dict of its fields; with it every
        # TCP endpoint serves TLS (tls://), and a tls:// endpoint needs it.
        self._tls = None if tls is None else tls_options(tls)
        self._tls_context = None if self._tls is None else server_context(self._tls)
        self._require_client_cert = self._tls is not None and requires_client_cert(self._tls)
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
        self._on_connection_error = on_connection_error
        self._context_connection = _context_connection
        self._servers: List[Any] = []  # asyncio.AbstractServer or TlsListener
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
            conn._refusal = ("UNAVAILABLE", "server is shutting down" if self._closing else f"server is at its connection limit (maxConnections {self._max_connections})")
        return conn

    def _tls_factory(self) -> Connection:
        conn = self._factory()
        conn._require_client_cert = self._require_client_cert
        return conn

    def _plain_factory(self, url: str) -> Callable[[], Connection]:
        def make() -> Connection:
            conn = self._factory()
            if conn._refusal is None:  # a plain client on a TLS port: told so in clear, as by TypeScript
                conn._refusal = (TLS_REQUIRED_REASON, f"{url} requires TLS")
            return conn

        return make

    async def _listen_tls(self, ep: Endpoint) -> str:
        if self._tls_context is None:
            raise InvalidOption(f"{format_endpoint(ep)}: a TLS server needs the tls option (cert and key)")
        try:
            sock = listening_socket(ep.host, ep.port)
        except OSError as e:
            if e.errno in (98, 48, 10048):
                raise AddressInUse(f"{format_endpoint(ep)} is already in use") from None
            raise ConnectionFailed(f"cannot listen on {format_endpoint(ep)}: {e.strerror or e}") from None
        bound = format_endpoint(Endpoint("tcp", host=ep.host, port=sock.getsockname()[1], tls=True))
        listener = TlsListener(sock, self._tls_context, self._tls_factory, self._plain_factory(bound), self._disconnected, self.options.handshake_timeout, self._connection_error, self._full)
        self._servers.append(listener)
        self.endpoints.append(bound)
        return bound

    def _full(self, before_tls: int) -> bool:
        """Sockets still in their TLS handshake (or before it) count toward max_connections."""
        return len(self._all) + before_tls >= self._max_connections

    def _connection_error(self, error: WirecallError, address: str) -> None:
        """A connection that failed before it began (TLS: TlsRequired, HandshakeTimeout, a refused
        client certificate…): ``on_connection_error(error, address)``, as TypeScript's connectionError."""
        if self._on_connection_error is not None:
            try:
                self._on_connection_error(error, address)
            except Exception:
                pass

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
        return min(3.0, 0.1 * (1 << min(30, max(0, failures - 1))))

    def _banned_for(self, address: str) -> float:
        record = self._auth_failures.get(_host_of(address))
        return 0.0 if record is None else max(0.0, record[2] - time.monotonic())

    async def listen(self, endpoint: Optional[str] = None) -> str:
        """Starts listening; returns the endpoint actually bound (``tcp://127.0.0.1:0`` → the real port;
        ``tls://`` with the ``tls`` option). No endpoint: a fresh Unix socket in a private directory."""
        loop = asyncio.get_running_loop()
        if self._closing:
            raise ConnectionClosed("server is closed")
        if endpoint is None:
            d = tempfile.mkdtemp(prefix="wirecall-")
            self._dirs.append(d)
            ep = Endpoint("unix", path=os.path.join(d, f"{uuid.uuid4().hex[:12]}.sock"))
        else:
            ep = parse_endpoint(endpoint)
        if ep.kind == "tcp" and (ep.tls or self._tls is not None):
            return await self._listen_tls(ep)
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
