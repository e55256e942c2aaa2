"""The connection state machine, sans-IO.

``ConnectionCore`` owns everything one connection decides: the handshake, the tables
of calls and streams in both directions, ids, the concurrency limit, stream credit, and
what to send when the peer breaks the protocol. It never touches a socket or a clock
it was not given: bytes go in through :meth:`ConnectionCore.receive_data`, come out of
:meth:`ConnectionCore.data_to_send`, and what the application must act on comes back as
events (tuples whose first element is one of the ``EV_*`` names). The asyncio and
blocking front-ends drive it; a test can drive it with bytes alone.

One job per module: this one has the connection's tables, input, calls and answers, and
closing; ``core_handshake`` the handshake, ``core_answers`` the peer's calls (admission,
refusals) and our answers to them, ``core_streams`` stream credit and frames,
``core_types`` Options, PeerInfo, the call records and the event names.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import msgpack

from . import protocol as P
from .protocol_frames import _HEADER
from .errors import (
    ConnectionClosed,
    FrameTooLarge,
    InvalidArgument,
    LimitExceeded,
    MessageTooLarge,
    ProtocolError,
    WirecallError,
)
from .core_answers import _Answers
from .core_handshake import _Handshake
from .core_streams import _Streams
from .core_types import (  # noqa: F401  (the names the front-ends and tests read from core)
    _BODY_UNAVAILABLE,
    EV_CALL,
    EV_CANCEL,
    EV_CONNECTED,
    EV_CREDIT,
    EV_ERROR,
    EV_FATAL,
    EV_NOTIFY,
    EV_PONG,
    EV_REFUSED,
    EV_REJECTED,
    EV_RESULT,
    EV_SHUTDOWN,
    EV_STREAM_END,
    EV_STREAM_MESSAGE,
    EV_STREAM_OPEN,
    IncomingCall,
    Options,
    PeerInfo,
    StreamState,
)

__all__ = ["ConnectionCore", "PeerInfo", "Options", "IncomingCall", "StreamState"]


class ConnectionCore(_Handshake, _Answers, _Streams):
    """One connection's protocol state. ``role`` is ``"client"`` or ``"server"``."""

    def __init__(self, role: str, options: Options, address: str = "") -> None:
        self.role = role
        self.options = options
        self.address = address
        self.state = "pending"
        self.peer: Optional[PeerInfo] = None
        self.tls: Any = None  # the TLS peer (tls_peer.TlsPeer), set by the transport; PeerInfo.tls
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
        max_elements = o.max_message_elements
        max_depth = o.max_message_depth
        unpack = P.unpack_payload
        validate = P.validate_message
        try:
            for payload in decoder.frames():
                m = validate(unpack(payload, max_elements, max_depth))  # (P.decode_payload, one call less)
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
                if type(waiter) is StreamState:
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
        if self.state != "connected":
            raise ConnectionClosed(self._closed_message())
        if type(method) is not str and not isinstance(method, str):
            raise InvalidArgument("method must be a string")
        id = self._next_id
        outgoing = self.outgoing
        if id in outgoing:
            id = self._allocate_id()
        else:
            self._next_id = id + 1 if id < P.MAX_UINT32 else 1
        # (what _checked does, without formatting its "what" for every call)
        packer = self._packer
        try:
            payload = packer.pack([P.CALL, id, method, params, timeout_ms])
        except Exception as e:
            packer.reset()
            raise InvalidArgument(f"call of {method} cannot be encoded: {e}") from None
        peer = self.peer
        limit = peer.max_frame_size if peer is not None else P.HANDSHAKE_FRAME_LIMIT
        n = len(payload)
        if n > limit:
            raise MessageTooLarge(n, limit, f"call of {method}")
        self._out.append(_HEADER.pack(n) + payload)
        outgoing[id] = waiter
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
