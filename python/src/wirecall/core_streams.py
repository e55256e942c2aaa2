"""Streams in a connection's core, sans-IO: opening, messages both ways, the end of the
caller's side, credit (windows, grants, growth) and giving up. A mixin of
``core.ConnectionCore`` (its state lives there)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from . import protocol as P
from .errors import InvalidArgument, ProtocolError
from .core_types import EV_CREDIT, EV_STREAM_END, EV_STREAM_MESSAGE, EV_STREAM_OPEN, IncomingCall, Options, PeerInfo, StreamState


class _Streams:
    """The streams half of ConnectionCore."""

    # What it uses of ConnectionCore (declared for the type checker; set in ConnectionCore.__init__).
    options: Options
    state: str
    peer: Optional[PeerInfo]
    outgoing: Dict[int, Any]
    incoming: Dict[int, IncomingCall]
    _out: List[bytes]
    _growth_budget: int

    if TYPE_CHECKING:

        def _queue(self, message: List[Any]) -> None: ...
        def _admitted(self, id: int, stream: bool) -> bool: ...
        def _allocate_id(self) -> int: ...
        def _check_open(self) -> None: ...
        def _checked(self, message: List[Any], what: str) -> bytes: ...

    def _on_stream_open(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        id = m[1]
        if not self._admitted(id, True):
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
