"""wirecall for Python: the native wirecall protocol (docs/PROTOCOL.md), both roles.

Blocking, thread-based (for embedded interpreters and scripts)::

    import wirecall

    server = wirecall.Server(name="calc")
    server.register("add", lambda p: p["a"] + p["b"])
    endpoint = server.listen("tcp://127.0.0.1:0")

    with wirecall.connect(endpoint) as conn:
        print(conn.call("add", {"a": 2, "b": 3}))   # 5

asyncio: :mod:`wirecall.aio`. The protocol core without any I/O: :mod:`wirecall.core`
and :mod:`wirecall.protocol`.
"""

from __future__ import annotations

from .blocking import BlockingStream, Connection, MainThreadQueue, Server, connect
from .core import Options, PeerInfo
from .endpoint import Endpoint, format_endpoint, parse_endpoint
from . import errors as _errors
from .errors import *  # noqa: F401,F403  (every error class: errors.__all__)
from .handlers import CallContext
from .tls_options import TlsOptions
from .tls_peer import TlsPeer
from .status import Status, status_name

__version__ = "0.1.0"

__all__ = [
    "connect",
    "Server",
    "Connection",
    "BlockingStream",
    "MainThreadQueue",
    "CallContext",
    "Options",
    "PeerInfo",
    "TlsOptions",
    "TlsPeer",
    "Endpoint",
    "parse_endpoint",
    "format_endpoint",
    "Status",
    "status_name",
]
__all__ += _errors.__all__
