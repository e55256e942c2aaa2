"""One error hierarchy, with the names and stable codes of the TypeScript side (src/errors.ts).

    WirecallError
    ├── InvalidEndpoint                 bad endpoint string (never reached the network)
    ├── InvalidOption                   an option or argument refused before anything was done
    ├── TransportError                  the connection itself failed
    │   ├── ConnectionFailed            could not connect (refused, unreachable, DNS)
    │   ├── ConnectionTimeout           connect did not finish in time (also a TimeoutError)
    │   │   └── HandshakeTimeout        connected, but the handshake did not finish in time
    │   ├── ConnectionClosed            closed on purpose (by us or by the peer's shutdown)
    │   ├── ConnectionLost              died unexpectedly (reset, EOF, missed heartbeats)
    │   ├── AddressInUse                listen: something is already serving there
    │   ├── FrameTooLarge               a frame over the negotiated size limit
    │   ├── ProtocolError               the peer sent bytes we cannot understand
    │   ├── HandshakeRejected           the peer refused our handshake (version, token)
    │   ├── TlsError                    TLS failed (src/errors.ts; docs/TLS.md)
    │   │   ├── CertificateUntrusted    a certificate not signed by a trusted CA
    │   │   ├── CertificateNameMismatch the server's certificate does not name the host dialled
    │   │   ├── CertificateExpired      a certificate expired (or not yet valid)
    │   │   ├── ClientCertificateRequired  mutual TLS: the client sent no certificate
    │   │   ├── TlsRequired             a plain client on a TLS port
    │   │   └── TlsNotOffered           a TLS client on a plain port
    │   └── LimitExceeded               the peer went past a limit we set
    └── CallError                       one call failed; the connection is fine
        ├── RemoteError                 the peer answered with an error status
        ├── DeadlineExceeded            the call's deadline passed (also a TimeoutError)
        ├── CallCancelled               the caller cancelled the call
        ├── InvalidArgument             the call could not be sent as given
        ├── StreamClosed                a write to a stream whose sending side is closed
        ├── NotSupported                not available on this platform or connection
        └── MessageTooLarge             a call or notification over the peer's frame limit
"""

from __future__ import annotations

from typing import Any, Optional

from .status import Status, status_name

__all__ = [
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
    "TlsError",
    "CertificateUntrusted",
    "CertificateNameMismatch",
    "CertificateExpired",
    "ClientCertificateRequired",
    "TlsRequired",
    "TlsNotOffered",
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


class WirecallError(Exception):
    """Base of every wirecall error. ``code`` is stable (``ERR_…``), the same as in TypeScript."""

    code: str = "ERR_WIRECALL"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidEndpoint(WirecallError):
    code = "ERR_INVALID_ENDPOINT"

    def __init__(self, endpoint: str, reason: str) -> None:
        import json

        super().__init__(f"invalid endpoint {json.dumps(endpoint)}: {reason}")
        self.endpoint = endpoint
        self.reason = reason


class InvalidOption(WirecallError):
    code = "ERR_INVALID_OPTION"


class TransportError(WirecallError):
    code = "ERR_TRANSPORT"


class ConnectionFailed(TransportError):
    code = "ERR_CONNECTION_FAILED"


class ConnectionTimeout(TransportError, TimeoutError):
    code = "ERR_CONNECTION_TIMEOUT"


class HandshakeTimeout(ConnectionTimeout):
    code = "ERR_HANDSHAKE_TIMEOUT"


class ConnectionClosed(TransportError):
    code = "ERR_CONNECTION_CLOSED"


class ConnectionLost(TransportError):
    code = "ERR_CONNECTION_LOST"


class AddressInUse(TransportError):
    code = "ERR_ADDRESS_IN_USE"


class FrameTooLarge(TransportError):
    """A frame over our limit arrived (fatal for the connection)."""

    code = "ERR_FRAME_TOO_LARGE"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"incoming frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class ProtocolError(TransportError):
    code = "ERR_PROTOCOL"


class HandshakeRejected(TransportError):
    code = "ERR_HANDSHAKE_REJECTED"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"handshake rejected ({reason}): {message}")
        self.reason = reason
        self.detail = message


class TlsError(TransportError):
    """A TLS failure. ``tls_code``: OpenSSL's reason (e.g. ``CERTIFICATE_VERIFY_FAILED``), when known."""

    code = "ERR_TLS"

    def __init__(self, message: str = "", tls_code: Optional[str] = None) -> None:
        super().__init__(message)
        self.tls_code = tls_code


class CertificateUntrusted(TlsError):
    code = "ERR_TLS_CERT_UNTRUSTED"


class CertificateNameMismatch(TlsError):
    code = "ERR_TLS_CERT_NAME_MISMATCH"


class CertificateExpired(TlsError):
    code = "ERR_TLS_CERT_EXPIRED"


class ClientCertificateRequired(TlsError):
    code = "ERR_TLS_CLIENT_CERT_REQUIRED"


class TlsRequired(TlsError):
    code = "ERR_TLS_REQUIRED"


class TlsNotOffered(TlsError):
    code = "ERR_TLS_NOT_OFFERED"


class LimitExceeded(TransportError):
    code = "ERR_LIMIT_EXCEEDED"


class CallError(WirecallError):
    code = "ERR_CALL"
    status: int = Status.SERVER_ERROR


class RemoteError(CallError):
    """An error status from the peer. Handlers raise it to answer with a chosen status::

        raise RemoteError(Status.INVALID_ARGUMENT, "a must be a number")
    """

    code = "ERR_REMOTE"

    def __init__(
        self,
        status: int,
        message: str,
        *,
        remote_name: str = "Error",
        remote_code: Optional[str] = None,
        data: Any = None,
        remote_stack: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = int(status)
        self.remote_name = remote_name
        self.remote_code = remote_code
        self.data = data
        self.remote_stack = remote_stack

    @property
    def status_name(self) -> str:
        return status_name(self.status)

    def __repr__(self) -> str:
        return f"RemoteError({self.status_name}, {self.message!r}, remote_name={self.remote_name!r})"


class DeadlineExceeded(CallError, TimeoutError):
    code = "ERR_DEADLINE_EXCEEDED"
    status = Status.DEADLINE_EXCEEDED


class CallCancelled(CallError):
    code = "ERR_CANCELLED"
    status = Status.CANCELLED


class InvalidArgument(CallError):
    code = "ERR_INVALID_ARGUMENT"
    status = Status.INVALID_ARGUMENT


class StreamClosed(CallError):
    code = "ERR_STREAM_CLOSED"


class NotSupported(CallError):
    code = "ERR_NOT_SUPPORTED"


class MessageTooLarge(CallError):
    """What we were about to send is over the peer's maxFrameSize: nothing was sent."""

    code = "ERR_MESSAGE_TOO_LARGE"

    def __init__(self, size: int, limit: int, what: str = "message") -> None:
        super().__init__(f"{what} of {size} bytes exceeds the peer's limit of {limit} bytes")
        self.size = size
        self.limit = limit
