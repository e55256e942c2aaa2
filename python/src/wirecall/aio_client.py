"""``connect()``: open a transport to an endpoint (tcp, unix, Windows pipe) and complete the handshake."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable, Dict, Optional

from .aio_connection import Connection
from .aio_runners import Runner, executor_runner
from .core import Options
from .endpoint import Endpoint, format_endpoint, parse_endpoint, pipe_path
from .errors import ConnectionFailed, ConnectionTimeout, NotSupported, WirecallError
from .handlers import HandlerRegistry

__all__ = ["connect"]


async def _open_transport(loop: asyncio.AbstractEventLoop, factory: Callable[[], Connection], endpoint: Endpoint) -> None:
    if endpoint.kind == "tcp":
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

