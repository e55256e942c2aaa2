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
from .errors import (
    AddressInUse,
    CallCancelled,
    CallError,
    ConnectionClosed,
    ConnectionFailed,
    ConnectionLost,
    ConnectionTimeout,
    DeadlineExceeded,
    FrameTooLarge,
    HandshakeRejected,
    HandshakeTimeout,
    InvalidArgument,
    InvalidEndpoint,
    InvalidOption,
    LimitExceeded,
    MessageTooLarge,
    NotSupported,
    ProtocolError,
    RemoteError,
    StreamClosed,
    TransportError,
    WirecallError,
    TlsError,
    CertificateUntrusted,
    CertificateNameMismatch,
    CertificateExpired,
    ClientCertificateRequired,
    TlsRequired,
    TlsNotOffered,
)
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
    "TlsError",
    "CertificateUntrusted",
    "CertificateNameMismatch",
    "CertificateExpired",
    "ClientCertificateRequired",
    "TlsRequired",
    "TlsNotOffered",
    "Endpoint",
    "parse_endpoint",
    "format_endpoint",
    "Status",
    "status_name",
    "WirecallError",
    "InvalidEndpoint",
    "InvalidOption",
    "TransportError",
    "ConnectionFailed",
    "ConnectionTimeout",
    "HandshakeTimeout",
    "ConnectionClosed",
    "ConnectionLost",
    "AddressInUse",
    "FrameTooLarge",
    "ProtocolError",
    "HandshakeRejected",
    "LimitExceeded",
    "CallError",
    "RemoteError",
    "DeadlineExceeded",
    "CallCancelled",
    "InvalidArgument",
    "StreamClosed",
    "NotSupported",
    "MessageTooLarge",
]
