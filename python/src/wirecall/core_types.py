"""The records a connection's core keeps, sans-IO: its Options, what the peer said about itself
(PeerInfo), a call or stream the peer made (IncomingCall, StreamState), and the names of the
events ``ConnectionCore.receive_data`` returns."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from . import protocol as P

__all__ = ["Options", "PeerInfo", "IncomingCall", "StreamState"]

#: The error body of a call refused because the connection is shutting down.
_BODY_UNAVAILABLE = {"name": "Unavailable", "message": "connection is shutting down"}

# Events returned by receive_data.
EV_CONNECTED = "connected"  # (EV, peer_info)
EV_REJECTED = "rejected"  # (EV, reason, message)            client: REJECT received
EV_REFUSED = "refused"  # (EV, reason, message, auth)          server: we sent REJECT
EV_CALL = "call"  # (EV, IncomingCall)
EV_NOTIFY = "notify"  # (EV, method, params)
EV_RESULT = "result"  # (EV, waiter, value)
EV_ERROR = "error"  # (EV, waiter, status, body)
EV_CANCEL = "cancel"  # (EV, IncomingCall or StreamState)
EV_PONG = "pong"  # (EV, nonce)
EV_SHUTDOWN = "shutdown"  # (EV, reason or None)
EV_FATAL = "fatal"  # (EV, error)                           we are closing for a protocol error
EV_STREAM_OPEN = "stream_open"  # (EV, StreamState)            the peer opened a stream to us
EV_STREAM_MESSAGE = "stream_message"  # (EV, StreamState, value, size)  a message on a stream
EV_STREAM_END = "stream_end"  # (EV, StreamState)             CALLER_END on a stream we handle
EV_CREDIT = "credit"  # (EV, StreamState)                     our send credit grew


class Options:
    """A connection's settings (the reference's names, in snake_case; times in seconds)."""

    def __init__(
        self,
        *,
        name: str = "wirecall",
        version: str = "0",
        token: Optional[str] = None,
        max_frame_size: int = P.DEFAULT_MAX_FRAME_SIZE,
        heartbeat_interval: float = 5.0,
        handshake_timeout: float = 5.0,
        drain_timeout: float = 5.0,
        frame_timeout: float = 30.0,
        slow_peer_timeout: float = 30.0,
        max_concurrent_calls: int = 1024,
        max_refused_per_second: Optional[int] = None,
        max_message_elements: int = P.DEFAULT_MAX_MESSAGE_ELEMENTS,
        max_message_depth: int = P.DEFAULT_MAX_MESSAGE_DEPTH,
        stream_window: Tuple[int, int] = (P.DEFAULT_STREAM_WINDOW_MESSAGES, P.DEFAULT_STREAM_WINDOW_BYTES),
        expose_stack: bool = False,
        default_timeout: Optional[float] = None,
        max_stream_window: int = 4 * 1024 * 1024,
        max_stream_window_growth: int = 16 * 1024 * 1024,
        authenticate: Optional[Callable[[Dict[str, Any], str], bool]] = None,
    ) -> None:
        from .errors import InvalidOption

        def check_int(label: str, value: Any, low: int, high: int = P.MAX_UINT32) -> int:
            if type(value) is not int or not low <= value <= high:
                raise InvalidOption(f"{label} must be an integer from {low} to {high}, got {value!r}")
            return value

        def check_seconds(label: str, value: Any, allow_zero: bool = True) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
                raise InvalidOption(f"{label} must be a number of seconds >= 0, got {value!r}")
            return float(value)

        if not isinstance(name, str) or not isinstance(version, str):
            raise InvalidOption("name and version must be strings")
        if token is not None and not isinstance(token, str):
            raise InvalidOption("token must be a string")
        self.name = name
        self.version = version
        self.token = token
        self.max_frame_size = check_int("max_frame_size", max_frame_size, 1)
        self.heartbeat_interval = check_seconds("heartbeat_interval", heartbeat_interval)
        if self.heartbeat_interval * 1000 > P.MAX_UINT32:
            raise InvalidOption("heartbeat_interval is too long")
        self.handshake_timeout = check_seconds("handshake_timeout", handshake_timeout, False)
        self.drain_timeout = check_seconds("drain_timeout", drain_timeout)
        self.frame_timeout = check_seconds("frame_timeout", frame_timeout, False)
        self.slow_peer_timeout = check_seconds("slow_peer_timeout", slow_peer_timeout, False)
        self.max_concurrent_calls = check_int("max_concurrent_calls", max_concurrent_calls, 1)
        mrps = max(max_concurrent_calls, 1000) if max_refused_per_second is None else max_refused_per_second
        self.max_refused_per_second = check_int("max_refused_per_second", mrps, 1)
        self.max_message_elements = check_int("max_message_elements", max_message_elements, 1, 0x7FFFFFFF)
        self.max_message_depth = check_int("max_message_depth", max_message_depth, 1, 0x7FFFFFFF)
        if not (isinstance(stream_window, (tuple, list)) and len(stream_window) == 2):
            raise InvalidOption("stream_window must be (messages, bytes)")
        self.stream_window = (check_int("stream_window messages", stream_window[0], 1), check_int("stream_window bytes", stream_window[1], 1))
        self.expose_stack = bool(expose_stack)
        self.max_stream_window = check_int("max_stream_window", max_stream_window, 1)
        self.max_stream_window_growth = check_int("max_stream_window_growth", max_stream_window_growth, 0, 1 << 62)
        if authenticate is not None and not callable(authenticate):
            raise InvalidOption("authenticate must be a callable (hello, address) -> bool")
        self.authenticate = authenticate
        self.default_timeout = None if default_timeout is None else check_seconds("default_timeout", default_timeout)

    @property
    def heartbeat_ms(self) -> int:
        return int(round(self.heartbeat_interval * 1000))


class PeerInfo:
    """What one side learned of the other in the handshake."""

    __slots__ = ("name", "version", "protocol_version", "connection_id", "address", "max_frame_size", "heartbeat_ms", "stream_window", "tls")

    def __init__(self, name: str, version: str, protocol_version: int, connection_id: str, address: str, max_frame_size: int, heartbeat_ms: int, stream_window: Tuple[int, int]) -> None:
        self.name = name
        self.version = version
        self.protocol_version = protocol_version
        self.connection_id = connection_id
        self.address = address
        self.max_frame_size = max_frame_size
        self.heartbeat_ms = heartbeat_ms
        self.stream_window = stream_window
        #: The TLS session and the peer's certificate (a ``tls_peer.TlsPeer``); None without TLS.
        self.tls: Any = None

    def as_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "protocolVersion": self.protocol_version,
            "connectionId": self.connection_id,
            "address": self.address,
            "maxFrameSize": self.max_frame_size,
            "heartbeatMs": self.heartbeat_ms,
            "dialect": "wirecall",
            **({} if self.tls is None else {"tls": self.tls.as_dict()}),
        }

    def __repr__(self) -> str:
        return f"PeerInfo({self.as_dict()!r})"


class IncomingCall:
    """A call the peer made that we are running. ``handle`` is the front-end's (its task)."""

    __slots__ = ("id", "method", "params", "timeout_ms", "handle", "is_stream")

    def __init__(self, id: int, method: str, params: Any, timeout_ms: Optional[int]) -> None:
        self.id = id
        self.method = method
        self.params = params
        self.timeout_ms = timeout_ms
        self.handle: Any = None
        self.is_stream = False


class StreamState(IncomingCall):
    """A stream, on either side. Credits are [messages, bytes] pairs (signed, may go below 0)."""

    __slots__ = ("kind", "outgoing", "send_credit", "recv_credit", "window", "owed", "caller_done", "waiter", "starved", "limit_bytes", "grown")

    def __init__(self, id: int, method: str, params: Any, timeout_ms: Optional[int], kind: int, outgoing: bool) -> None:
        super().__init__(id, method, params, timeout_ms)
        self.is_stream = True
        self.kind = kind
        self.outgoing = outgoing  # True: we are the caller
        self.send_credit = [0, 0]  # what we may still send
        self.recv_credit = [0, 0]  # what the peer may still send us (initial + granted - received)
        self.window = (0, 0)  # our receive window (for grant batching)
        self.owed = [0, 0]  # consumed, not yet granted back
        self.caller_done = False  # the caller's direction has ended (CALLER_END, or a server stream)
        self.waiter: Any = None  # front-end's object for an outgoing stream
        self.starved = False  # the reader waited for a message since the last grant: grow the window
        self.limit_bytes = 0  # how far the byte window may grow (0: it stays as it is)
        self.grown = 0  # bytes of growth taken from the connection's budget
