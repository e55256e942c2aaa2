"""``connect()``: open a transport to an endpoint (tcp, unix, Windows pipe) and complete the handshake."""

from __future__ import annotations

import asyncio
import ssl
import sys
from typing import Any, Callable, Dict, Optional

from .aio_connection import Connection
from .aio_runners import Runner, executor_runner
from .core import Options
from .endpoint import Endpoint, format_endpoint, parse_endpoint, pipe_path
from .errors import ConnectionFailed, ConnectionTimeout, HandshakeRejected, HandshakeTimeout, NotSupported, TlsNotOffered, WirecallError
from .handlers import HandlerRegistry
from .tls_options import TlsOptions, client_context, tls_options
from .tls_peer import tls_failure, tls_rejection

__all__ = ["connect"]


async def _open_transport(loop: asyncio.AbstractEventLoop, factory: Callable[[], Connection], endpoint: Endpoint, tls: Any, handshake_timeout: float) -> None:
    if endpoint.kind == "tcp" and tls is not None:
        option = tls_options(tls)
        servername = option.servername if isinstance(option, TlsOptions) and option.servername else endpoint.host
        ctx = client_context(option)
        await loop.create_connection(factory, endpoint.host, endpoint.port, ssl=ctx, server_hostname=servername, ssl_handshake_timeout=handshake_timeout)
    elif endpoint.kind == "tcp":
        await loop.create_connection(factory, endpoint.host, endpoint.port)
    elif endpoint.kind == "unix":
        if sys.platform == "win32":  # the proactor loop has no Unix sockets
            raise NotSupported(f"unix:{endpoint.path}: Unix sockets are not available on Windows; use pipe://name or tcp://")
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
    tls: Any = None,
    **options: Any,
) -> Connection:
    """Connects and completes the handshake; returns the open Connection.

    ``handlers``: methods the peer may call back on us. ``options``: ``name``, ``version``,
    ``token``, ``max_frame_size``, ``heartbeat_interval`` (s), ``handshake_timeout``,
    ``drain_timeout``, ``max_concurrent_calls``, ``stream_window``, ``default_timeout``…
    ``tls``: an ``ssl.SSLContext``, a TlsOptions or a dict of its fields (docs/TLS.md); a
    ``tls://`` endpoint connects with TLS (the system's CAs without the option), and so does
    a ``tcp://`` one with it. Raises InvalidEndpoint, ConnectionFailed, ConnectionTimeout,
    HandshakeTimeout, HandshakeRejected, TlsError (and its subclasses).
    """
    ep = parse_endpoint(endpoint)
    if ep.kind == "tcp" and (ep.tls or tls is not None):
        ep = Endpoint("tcp", host=ep.host, port=ep.port, tls=True)
        tls = {} if tls is None else tls
    opts = Options(**options)
    registry = HandlerRegistry()
    registry.update(handlers)
    if executor is not None and runner is None:
        runner = executor_runner(executor)
    loop = asyncio.get_running_loop()
    conn = Connection("client", opts, registry, runner=runner, on_notification=on_notification, context_connection=_context_connection)
    try:
        await asyncio.wait_for(_open_transport(loop, lambda: conn, ep, tls, opts.handshake_timeout), connect_timeout)
    except asyncio.TimeoutError:
        raise ConnectionTimeout(f"connect to {format_endpoint(ep)} did not finish within {int(connect_timeout * 1000)} ms") from None
    except WirecallError:
        raise
    except ssl.SSLError as e:
        raise (tls_failure(e, "client", format_endpoint(ep)) or ConnectionFailed(str(e))) from None
    except OSError as e:
        if ep.tls and isinstance(e, ConnectionAbortedError) and "handshake" in str(e):
            raise HandshakeTimeout(f"TLS handshake with {format_endpoint(ep)} did not complete within {int(opts.handshake_timeout * 1000)} ms") from None
        if ep.tls and isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            raise TlsNotOffered(f"{format_endpoint(ep)} hung up in the TLS handshake (it does not speak TLS?): connect with tcp://, or serve it with TLS") from None
        raise ConnectionFailed(f"cannot connect to {format_endpoint(ep)}: {e.strerror or e}") from None
    try:
        await conn._handshake
    except asyncio.CancelledError:
        conn.abort()
        raise
    except HandshakeRejected as e:
        raise (tls_rejection(e.reason, e.detail, format_endpoint(ep)) or e) from None
    return conn

