"""The connection state machine, sans-IO.

``ConnectionCore`` owns everything one connection decides: the handshake, the tables
of calls and streams in both directions, ids, the concurrency limit, stream credit, and
what to send when the peer breaks the protocol. It never touches a socket or a clock
it was not given: bytes go in through :meth:`ConnectionCore.receive_data`, come out of
:meth:`ConnectionCore.data_to_send`, and what the application must act on comes back as
events (tuples whose first element is one of the ``EV_*`` names). The asyncio and
blocking front-ends drive it; a test can drive it with bytes alone.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

import msgpack

from . import protocol as P
from .errors import (
    ConnectionClosed,
    FrameTooLarge,
    InvalidArgument,
    LimitExceeded,
    MessageTooLarge,
    ProtocolError,
    WirecallError,
)
from .status import Status

__all__ = ["ConnectionCore", "PeerInfo", "Options", "IncomingCall", "StreamState"]

_HEADER = struct.Struct(">I")

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

    __slots__ = ("name", "version", "protocol_version", "connection_id", "address", "max_frame_size", "heartbeat_ms", "stream_window")

    def __init__(self, name: str, version: str, protocol_version: int, connection_id: str, address: str, max_frame_size: int, heartbeat_ms: int, stream_window: Tuple[int, int]) -> None:
        self.name = name
        self.version = version
        self.protocol_version = protocol_version
        self.connection_id = connection_id
        self.address = address
        self.max_frame_size = max_frame_size
        self.heartbeat_ms = heartbeat_ms
        self.stream_window = stream_window

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


_BODY_UNAVAILABLE = {"name": "Unavailable", "message": "connection is shutting down"}


class ConnectionCore:
    """One connection's protocol state. ``role`` is ``"client"`` or ``"server"``."""

    def __init__(self, role: str, options: Options, address: str = "") -> None:
        self.role = role
        self.options = options
        self.address = address
        self.state = "pending"
        self.peer: Optional[PeerInfo] = None
        self.shutdown_reason: Optional[str] = None
        self.error: Optional[WirecallError] = None
        self._out: List[bytes] = []
        self._pinned = 0  # queued frames a fatal error must not discard (the WELCOME)
        self._decoder = P.FrameDecoder(min(P.HANDSHAKE_FRAME_LIMIT, options.max_frame_size))
        self._packer = msgpack.Packer(use_bin_type=True, datetime=True, autoreset=True)
        self._next_id = 1
        self._next_nonce = 1
        self.outgoing: Dict[int, Any] = {}  # id -> waiter (calls) or StreamState (streams)
        self.incoming: Dict[int, IncomingCall] = {}  # the peer's calls and streams we run
        self._refusals = 0
        self._refusal_window = 0.0
        self.last_heard = time.monotonic()
        self.partial_since: Optional[float] = None  # when the incomplete frame buffered began
        self._growth_budget = options.max_stream_window_growth
        self._first_bytes = b""  # the stream's first bytes, to say what a non-wirecall peer sent

    @property
    def partial_bytes(self) -> int:
        """Bytes of a frame that has begun to arrive but is not complete."""
        return self._decoder.buffered

    # ------------------------------------------------------------------ output

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call, coalesced."""
        out = self._out
        self._pinned = 0
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    @property
    def has_data(self) -> bool:
        return bool(self._out)

    def _frame(self, message: List[Any]) -> bytes:
        payload = self._packer.pack(message)
        return _HEADER.pack(len(payload)) + payload

    def _queue(self, message: List[Any]) -> None:
        self._out.append(self._frame(message))

    def _peer_limit(self) -> int:
        return self.peer.max_frame_size if self.peer is not None else P.HANDSHAKE_FRAME_LIMIT

    def _checked(self, message: List[Any], what: str) -> bytes:
        try:
            payload = self._packer.pack(message)
        except Exception as e:
            self._packer.reset()
            raise InvalidArgument(f"{what} cannot be encoded: {e}") from None
        limit = self._peer_limit()
        if len(payload) > limit:
            raise MessageTooLarge(len(payload), limit, what)
        return _HEADER.pack(len(payload)) + payload

    # ------------------------------------------------------------------ handshake

    def start(self) -> None:
        """Client: queue the HELLO. Server: nothing (it waits for HELLO)."""
        if self.role != "client":
            return
        o = self.options
        hello: Dict[str, Any] = {
            "protocol": P.PROTOCOL_NAME,
            "versions": list(P.SUPPORTED_VERSIONS),
            "peerName": o.name,
            "peerVersion": o.version,
            "maxFrameSize": o.max_frame_size,
            "heartbeatMs": o.heartbeat_ms,
            "streamWindowMessages": o.stream_window[0],
            "streamWindowBytes": o.stream_window[1],
        }
        if o.token is not None:
            hello["token"] = o.token
        self._queue([P.HELLO, hello])

    def _admit(self, hello: Dict[str, Any]) -> Tuple[bool, str, str, bool, int]:
        if hello["protocol"] != P.PROTOCOL_NAME:
            import json

            return False, "PROTOCOL", f"expected protocol {P.PROTOCOL_NAME}, got {json.dumps(hello['protocol'])}", False, 0
        offered = hello["versions"]
        version = next((v for v in P.SUPPORTED_VERSIONS if v in offered), None)
        if version is None:
            shown = ", ".join(str(int(v)) if float(v).is_integer() else str(v) for v in offered) or "none"
            return False, "VERSION_MISMATCH", f"server speaks protocol version {', '.join(map(str, P.SUPPORTED_VERSIONS))}; client offered {shown}", False, 0
        expected = self.options.token
        if expected is not None:
            given = hello.get("token")
            ok = given is not None and hmac.compare_digest(
                hashlib.sha256(expected.encode()).digest(), hashlib.sha256(given.encode()).digest()
            )
            if not ok:
                return False, "UNAUTHENTICATED", "wrong token" if given else "a token is required", True, 0
        authenticate = self.options.authenticate
        if authenticate is not None:
            try:
                allowed = bool(authenticate(hello, self.address))
            except Exception:
                allowed = False
            if not allowed:
                return False, "UNAUTHENTICATED", "not authorised", True, 0
        return True, "", "", False, version

    def _on_hello(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        hello = m[1]
        ok, reason, message, auth, version = self._admit(hello)
        if not ok:
            self._queue([P.REJECT, reason, message])
            self.state = "closed"
            events.append((EV_REFUSED, reason, message, auth))
            return
        o = self.options
        welcome: Dict[str, Any] = {
            "protocol": P.PROTOCOL_NAME,
            "version": version,
            "peerName": o.name,
            "peerVersion": o.version,
            "connectionId": str(uuid.uuid4()),
            "maxFrameSize": o.max_frame_size,
            "heartbeatMs": o.heartbeat_ms,
            "streamWindowMessages": o.stream_window[0],
            "streamWindowBytes": o.stream_window[1],
        }
        self._queue([P.WELCOME, welcome])
        self._pinned = len(self._out)
        self.peer = PeerInfo(
            hello["peerName"],
            hello["peerVersion"],
            version,
            welcome["connectionId"],
            self.address,
            hello["maxFrameSize"],
            hello["heartbeatMs"],
            (hello.get("streamWindowMessages") or P.DEFAULT_STREAM_WINDOW_MESSAGES, hello.get("streamWindowBytes") or P.DEFAULT_STREAM_WINDOW_BYTES),
        )
        self._connected()
        events.append((EV_CONNECTED, self.peer))

    def _on_welcome(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        w = m[1]
        if w["protocol"] != P.PROTOCOL_NAME or w["version"] not in P.SUPPORTED_VERSIONS:
            v = w["version"]
            raise ProtocolError(f"server chose unsupported protocol {w['protocol']}/{int(v) if float(v).is_integer() else v}")
        self.peer = PeerInfo(
            w["peerName"],
            w["peerVersion"],
            int(w["version"]),
            w["connectionId"],
            self.address,
            w["maxFrameSize"],
            w["heartbeatMs"],
            (w.get("streamWindowMessages") or P.DEFAULT_STREAM_WINDOW_MESSAGES, w.get("streamWindowBytes") or P.DEFAULT_STREAM_WINDOW_BYTES),
        )
        self._connected()
        events.append((EV_CONNECTED, self.peer))

    def _connected(self) -> None:
        self.state = "connected"
        self._decoder.max_frame_size = self.options.max_frame_size

    # ------------------------------------------------------------------ input

    def receive_data(self, data: bytes) -> List[Tuple[Any, ...]]:
        """Feeds bytes from the peer; returns the events they caused, in order."""
        events: List[Tuple[Any, ...]] = []
        if self.state == "closed":
            return events
        self.last_heard = time.monotonic()
        if self.state == "pending" and len(self._first_bytes) < 24:
            self._first_bytes += data[: 24 - len(self._first_bytes)]
        decoder = self._decoder
        decoder.push(data)
        o = self.options
        try:
            for payload in decoder.frames():
                m = P.decode_payload(payload, o.max_message_elements, o.max_message_depth)
                self._dispatch(m, len(payload), events)
                if self.state == "closed":
                    break
        except FrameTooLarge as e:
            if self.state == "pending":
                # A huge "length" in the very first bytes: most likely not a wirecall peer at all
                # (an HTTP client, a wrong port). Say so, with the bytes (PROTOCOL.md 2.3).
                text = "".join(chr(b) if 0x20 <= b <= 0x7E else "." for b in self._first_bytes)
                self._fatal(ProtocolError(f'peer does not speak the wirecall protocol (its first bytes: "{text}")'), events)
            else:
                self._fatal(e, events)
            return events
        except ProtocolError as e:
            self._fatal(e, events)
            return events
        except LimitExceeded as e:
            self._fatal(e, events, keep_queued=True)  # the refusals already queued go first
            return events
        if decoder.buffered:
            if self.partial_since is None:
                self.partial_since = self.last_heard
        else:
            self.partial_since = None
        return events

    def _dispatch(self, m: List[Any], size: int, events: List[Tuple[Any, ...]]) -> None:
        t = m[0]
        state = self.state
        if state == "pending":
            if self.role == "server":
                if t != P.HELLO:
                    raise ProtocolError(f"expected HELLO as the first frame, got message type {t}")
                self._on_hello(m, events)
            else:
                if t == P.WELCOME:
                    self._on_welcome(m, events)
                elif t == P.REJECT:
                    self.state = "closed"
                    events.append((EV_REJECTED, m[1], m[2]))
                else:
                    raise ProtocolError(f"expected WELCOME or REJECT as the first frame, got message type {t}")
            return
        if t == P.RESULT:
            waiter = self.outgoing.pop(m[1], None)
            if waiter is not None:
                self._release(waiter)
                events.append((EV_RESULT, waiter, m[2]))
        elif t == P.CALL:
            self._on_call(m, events)
        elif t == P.ERROR:
            waiter = self.outgoing.pop(m[1], None)
            if waiter is not None:
                self._release(waiter)
                events.append((EV_ERROR, waiter, m[2], m[3]))
        elif t == P.NOTIFY:
            events.append((EV_NOTIFY, m[1], m[2]))
        elif t == P.CANCEL:
            call = self.incoming.pop(m[1], None)
            if call is not None:
                self._release(call)
                events.append((EV_CANCEL, call))
        elif t == P.PING:
            self._queue([P.PONG, m[1]])
        elif t == P.PONG:
            if m[1] != 0:
                events.append((EV_PONG, m[1]))
        elif t == P.SHUTDOWN:
            if state == "connected":
                self.state = "closing"
                self.shutdown_reason = m[1]
                events.append((EV_SHUTDOWN, m[1]))
        elif t == P.STREAM_OPEN:
            self._on_stream_open(m, events)
        elif P.CALLER_MESSAGE <= t <= P.HANDLER_CREDIT:
            self._on_stream_frame(m, size, events)
        else:  # HELLO, WELCOME, REJECT
            raise ProtocolError(f"unexpected message type {t} after the handshake")

    def _refuse(self, id: int, status: int, body: Dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._refusal_window >= 1.0:
            self._refusal_window = now
            self._refusals = 0
        self._refusals += 1
        if self._refusals <= self.options.max_refused_per_second:
            self._queue([P.ERROR, id, status, body])
        else:  # the refusal that crosses the limit is not sent: the SHUTDOWN is (as the reference)
            raise LimitExceeded(
                f"peer kept calling past the concurrency limit ({self.options.max_concurrent_calls}): "
                f"over {self.options.max_refused_per_second} refusals within a second (maxRefusedPerSecond)"
            )

    def _on_call(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        id = m[1]
        if id in self.incoming:
            raise ProtocolError(f"peer reused call id {id} while that call was still running")
        if self.state == "closing":
            self._queue([P.ERROR, id, Status.UNAVAILABLE, _BODY_UNAVAILABLE])
            return
        if len(self.incoming) >= self.options.max_concurrent_calls:
            self._refuse(id, Status.RESOURCE_EXHAUSTED, {"name": "ResourceExhausted", "message": f"too many concurrent calls (limit {self.options.max_concurrent_calls})"})
            return
        call = IncomingCall(id, m[2], m[3], m[4])
        self.incoming[id] = call
        events.append((EV_CALL, call))

    # ------------------------------------------------------------------ streams (input)

    def _on_stream_open(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        id = m[1]
        if id in self.incoming:
            raise ProtocolError(f"peer reused id {id} while that call or stream was still running")
        if self.state == "closing":
            self._queue([P.ERROR, id, Status.UNAVAILABLE, _BODY_UNAVAILABLE])
            return
        if len(self.incoming) >= self.options.max_concurrent_calls:
            self._refuse(id, Status.RESOURCE_EXHAUSTED, {"name": "ResourceExhausted", "message": f"too many concurrent calls and streams (limit {self.options.max_concurrent_calls})"})
            return
        kind = m[5]
        s = StreamState(id, m[2], m[3], m[4], kind, outgoing=False)
        s.send_credit = [m[6], m[7]]
        window = self.options.stream_window
        s.window = window
        s.recv_credit = [window[0], window[1]]
        s.limit_bytes = max(window[1], self.options.max_stream_window)
        s.caller_done = kind == P.SERVER_STREAM
        self.incoming[id] = s
        events.append((EV_STREAM_OPEN, s))

    def _on_stream_frame(self, m: List[Any], size: int, events: List[Tuple[Any, ...]]) -> None:
        t = m[0]
        id = m[1]
        if t == P.CALLER_MESSAGE or t == P.CALLER_END or t == P.CALLER_CREDIT:
            s = self.incoming.get(id)
        else:
            s = self.outgoing.get(id)
        if not isinstance(s, StreamState):
            return  # a stream that is over (or a call): dropped silently
        if t == P.CALLER_MESSAGE or t == P.HANDLER_MESSAGE:
            carries = s.kind != P.SERVER_STREAM if t == P.CALLER_MESSAGE else s.kind != P.CLIENT_STREAM
            if not carries:
                raise ProtocolError(f"peer sent {P.MESSAGE_NAMES[t]} on stream {id}, whose kind carries no messages in that direction")
            credit = s.recv_credit
            if credit[0] < 1 or credit[1] < 1:
                raise ProtocolError(f"peer sent a message on stream {id} beyond the credit it was granted")
            credit[0] -= 1
            credit[1] -= size
            if t == P.CALLER_MESSAGE and s.caller_done:
                self.consumed(s, size)  # after CALLER_END: dropped, credit given back
                return
            events.append((EV_STREAM_MESSAGE, s, m[2], size))
        elif t == P.CALLER_END:
            if not s.caller_done:
                s.caller_done = True
                events.append((EV_STREAM_END, s))
        else:  # credit for what we send
            if (t == P.CALLER_CREDIT and s.kind == P.CLIENT_STREAM) or (t == P.HANDLER_CREDIT and s.kind == P.SERVER_STREAM):
                return
            s.send_credit[0] += m[2]
            s.send_credit[1] += m[3]
            events.append((EV_CREDIT, s))

    # ------------------------------------------------------------------ calls (output)

    def _allocate_id(self) -> int:
        id = self._next_id
        outgoing = self.outgoing
        while id in outgoing:
            id = id + 1 if id < P.MAX_UINT32 else 1
        self._next_id = id + 1 if id < P.MAX_UINT32 else 1
        return id

    def _check_open(self) -> None:
        if self.state != "connected":
            raise ConnectionClosed(self._closed_message())

    def _closed_message(self) -> str:
        if self.error is not None:
            return f"connection closed: {self.error}"
        if self.state == "closing":
            reason = self.shutdown_reason
            return f"peer closed the connection ({reason})" if reason else "connection is closing"
        return "connection is closed" if self.state == "closed" else "connection is not open yet"

    def start_call(self, method: str, params: Any, timeout_ms: Optional[int], waiter: Any) -> int:
        """Queues a CALL; returns its id. Raises ConnectionClosed, InvalidArgument or MessageTooLarge."""
        self._check_open()
        if not isinstance(method, str):
            raise InvalidArgument("method must be a string")
        id = self._allocate_id()
        self._out.append(self._checked([P.CALL, id, method, params, timeout_ms], f"call of {method}"))
        self.outgoing[id] = waiter
        return id

    def forget_call(self, id: int, send_cancel: bool = True) -> bool:
        """The caller gives up on ``id`` (cancel, deadline): CANCEL is queued. False if it was over."""
        if self.outgoing.pop(id, None) is None:
            return False
        if send_cancel and self.state != "closed":
            self._queue([P.CANCEL, id])
        return True

    def notify(self, method: str, params: Any) -> None:
        self._check_open()
        if not isinstance(method, str):
            raise InvalidArgument("method must be a string")
        self._out.append(self._checked([P.NOTIFY, method, params], f"notification {method}"))

    def ping(self) -> int:
        """Queues a round-trip PING; returns its nonce."""
        if self.state not in ("connected", "closing"):
            raise ConnectionClosed(self._closed_message())
        nonce = self._next_nonce
        self._next_nonce = nonce + 1 if nonce < P.MAX_UINT32 else 1
        self._queue([P.PING, nonce])
        return nonce

    def heartbeat(self) -> None:
        if self.state in ("connected", "closing"):
            self._queue([P.PING, 0])

    # ------------------------------------------------------------------ answers (output)

    def send_result(self, call: IncomingCall, value: Any) -> bool:
        """Answers a call the peer made. False if it is no longer running (cancelled, expired)."""
        if self.incoming.get(call.id) is not call or self.state == "closed":
            return False
        del self.incoming[call.id]
        self._release(call)
        try:
            payload = self._packer.pack([P.RESULT, call.id, value])
        except Exception as e:
            self._packer.reset()
            self._queue([P.ERROR, call.id, Status.SERVER_ERROR, {"name": "EncodeError", "message": f"result of {call.method} cannot be encoded: {e}"}])
            return True
        limit = self._peer_limit()
        if len(payload) > limit:
            self._queue([P.ERROR, call.id, Status.RESOURCE_EXHAUSTED, {"name": "FrameTooLarge", "message": f"result of {call.method} is {len(payload)} bytes, over the caller's limit of {limit}"}])
            return True
        self._out.append(_HEADER.pack(len(payload)) + payload)
        return True

    def send_error(self, call: IncomingCall, status: int, body: Dict[str, Any]) -> bool:
        """Answers a call the peer made with an ERROR, made to fit (PROTOCOL.md 7.3)."""
        if self.incoming.get(call.id) is not call or self.state == "closed":
            return False
        del self.incoming[call.id]
        self._release(call)
        self._queue_error(call.id, status, body)
        return True

    def _queue_error(self, id: int, status: int, body: Dict[str, Any]) -> None:
        try:
            payload = self._packer.pack([P.ERROR, id, status, body])
        except Exception:
            self._packer.reset()
            slim = {k: body[k] for k in ("name", "message", "code") if body.get(k) is not None}
            payload = self._packer.pack([P.ERROR, id, status, slim])
        if len(payload) > self._peer_limit():
            payload = self._packer.pack([P.ERROR, id, status, {"name": body["name"], "message": body["message"][:1024]}])
        self._out.append(_HEADER.pack(len(payload)) + payload)

    def expire(self, call: IncomingCall) -> bool:
        """The deadline of a call the peer made passed: ERROR 4 is queued. False if it was over."""
        return self.send_error(call, Status.DEADLINE_EXCEEDED, {"name": "DeadlineExceeded", "message": f"deadline of {call.method} passed"})

    # ------------------------------------------------------------------ streams (output)

    def open_stream(self, method: str, params: Any, timeout_ms: Optional[int], kind: int, window: Optional[Tuple[int, int]], waiter: Any) -> StreamState:
        self._check_open()
        if not isinstance(method, str):
            raise InvalidArgument("method must be a string")
        w = window or self.options.stream_window
        id = self._allocate_id()
        self._out.append(self._checked([P.STREAM_OPEN, id, method, params, timeout_ms, kind, w[0], w[1]], f"stream open of {method}"))
        s = StreamState(id, method, params, timeout_ms, kind, outgoing=True)
        s.window = (w[0], w[1])
        s.recv_credit = [w[0], w[1]]
        if window is None:  # a window chosen for one stream stays fixed
            s.limit_bytes = max(w[1], self.options.max_stream_window)
        assert self.peer is not None
        s.send_credit = [self.peer.stream_window[0], self.peer.stream_window[1]]
        s.caller_done = kind == P.SERVER_STREAM
        s.waiter = waiter
        self.outgoing[id] = s
        return s

    def can_send(self, s: StreamState) -> bool:
        c = s.send_credit
        return c[0] >= 1 and c[1] >= 1

    def stream_send(self, s: StreamState, value: Any) -> None:
        """Queues one message on ``s`` (the caller must have checked can_send). Raises MessageTooLarge/InvalidArgument."""
        t = P.CALLER_MESSAGE if s.outgoing else P.HANDLER_MESSAGE
        frame = self._checked([t, s.id, value], f"a message of {s.method}")
        s.send_credit[0] -= 1
        s.send_credit[1] -= len(frame) - 4
        self._out.append(frame)

    def stream_end(self, s: StreamState) -> None:
        """The caller half-closes (CALLER_END)."""
        if s.caller_done:
            return
        s.caller_done = True
        if self.outgoing.get(s.id) is s and self.state != "closed":
            self._queue([P.CALLER_END, s.id])

    def consumed(self, s: StreamState, size: int) -> None:
        """The application took a message of ``size`` bytes from ``s``: credit is owed back, granted in half-window batches."""
        owed = s.owed
        owed[0] += 1
        owed[1] += size
        if owed[0] * 2 >= s.window[0] or owed[1] * 2 >= s.window[1]:
            self._grant(s)

    def _grant(self, s: StreamState) -> None:
        m, b = s.owed
        s.owed = [0, 0]
        if s.outgoing:
            if self.outgoing.get(s.id) is not s or s.kind == P.CLIENT_STREAM:
                return
            t = P.CALLER_CREDIT
        else:
            if self.incoming.get(s.id) is not s or s.kind == P.SERVER_STREAM:
                return
            t = P.HANDLER_CREDIT
        if self.state == "closed":
            return
        if s.starved:
            wm, wb = s.window
            more = min(max(0, min(s.limit_bytes, wb * 2) - wb), self._growth_budget)
            if more > 0:
                self._growth_budget -= more
                s.grown += more
                s.window = (wm, wb + more)
                b += more
            s.starved = False
        s.recv_credit[0] += m
        s.recv_credit[1] += b
        self._queue([t, s.id, m, b])

    def _release(self, s: Any) -> None:
        """A stream is over: what its window grew by goes back to the connection's budget."""
        if isinstance(s, StreamState) and s.grown:
            self._growth_budget += s.grown
            s.grown = 0

    def forget_stream(self, s: StreamState, send_cancel: bool = True) -> bool:
        """The caller cancels its stream (or gives up at the deadline)."""
        if self.outgoing.get(s.id) is not s:
            return False
        del self.outgoing[s.id]
        self._release(s)
        if send_cancel and self.state != "closed":
            self._queue([P.CANCEL, s.id])
        return True

    # ------------------------------------------------------------------ closing

    def shutdown(self) -> bool:
        """Graceful: CONNECTED → CLOSING, SHUTDOWN queued. False if not connected."""
        if self.state != "connected":
            return False
        self.state = "closing"
        self._queue([P.SHUTDOWN, None])
        return True

    @property
    def idle(self) -> bool:
        """Nothing in flight in either direction: the drain is over."""
        return not self.outgoing and not self.incoming

    def fail(self, error: WirecallError) -> List[Tuple[Any, ...]]:
        """Fatal error decided outside (frame timeout, a limit): tell the peer why, then close."""
        events: List[Tuple[Any, ...]] = []
        self._fatal(error, events)
        return events

    def _fatal(self, error: WirecallError, events: List[Tuple[Any, ...]], keep_queued: bool = False) -> None:
        if self.state == "closed":
            return
        reason = f"{error.code}: {error}"
        if not keep_queued:
            # Queued frames are discarded (the reason is the last frame), except the WELCOME.
            del self._out[self._pinned :]
        if self.role == "server" and self.state == "pending":
            self._queue([P.REJECT, "PROTOCOL", reason])
        else:
            self._queue([P.SHUTDOWN, reason])
        self.state = "closed"
        self.error = error
        events.append((EV_FATAL, error))

    def close(self) -> None:
        """The byte stream is gone: nothing more is sent or received."""
        self.state = "closed"
