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

This module is the public face; the work is done in one module per job:

- ``aio_connection``: a Connection (calls, notifications, streams opened, event routing);
- ``aio_io``: its bytes in and out (the protocol callbacks, writing);
- ``aio_dispatch``: serving the peer's calls, notifications and streams;
- ``aio_lifecycle``: handshake timeout, heartbeats and watchdogs, drain and close;
- ``aio_streams``: the stream objects both sides use;
- ``aio_calls``: an outgoing call's waiter and timeout;
- ``aio_runners``: where sync handlers run (``executor_runner``) and the blocking face;
- ``aio_client``: ``connect()``;
- ``aio_server`` and ``aio_listen``: the Server and its sockets.
"""

from __future__ import annotations

from .aio_calls import _timeout_ms as _timeout_ms  # noqa: F401
from .aio_client import connect as connect  # noqa: F401
from .aio_connection import HIGH_WATER as HIGH_WATER, LOW_WATER as LOW_WATER, Connection as Connection  # noqa: F401
from .aio_io import MAX_WRITE_BUFFER as MAX_WRITE_BUFFER  # noqa: F401
from .aio_lifecycle import LINGER as LINGER  # noqa: F401
from .aio_listen import _bind_unix as _bind_unix, _host_of as _host_of  # noqa: F401
from .aio_runners import Runner as Runner, executor_runner as executor_runner, set_blocking_face as set_blocking_face  # noqa: F401
from .aio_server import AUTH_BAN_TIME as AUTH_BAN_TIME, AUTH_MAX_FAILURES as AUTH_MAX_FAILURES, Server as Server  # noqa: F401
from .aio_streams import BlockingInbox as BlockingInbox, OutgoingStream as OutgoingStream, StreamContext as StreamContext, StreamInbox as StreamInbox  # noqa: F401
from .handlers import CallContext as CallContext  # noqa: F401

__all__ = ["connect", "Server", "Connection", "CallContext", "Runner"]
