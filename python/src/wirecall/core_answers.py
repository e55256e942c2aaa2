"""The calls the peer makes, sans-IO: admitting a CALL (concurrency limit, refusals, their
rate) and answering it (RESULT, or an ERROR made to fit the peer's frame limit, PROTOCOL.md
7.3; a deadline that passed). A mixin of ``core.ConnectionCore`` (its state lives there)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

import msgpack

from . import protocol as P
from .errors import LimitExceeded, ProtocolError
from .protocol_frames import _HEADER
from .status import Status
from .core_types import _BODY_UNAVAILABLE, EV_CALL, IncomingCall, Options


class _Answers:
    """The callee half of ConnectionCore's calls."""

    # What it uses of ConnectionCore (declared for the type checker; set in ConnectionCore.__init__).
    options: Options
    state: str
    incoming: Dict[int, IncomingCall]
    _out: List[bytes]
    _packer: msgpack.Packer
    _refusals: int
    _refusal_window: float

    if TYPE_CHECKING:

        def _queue(self, message: List[Any]) -> None: ...
        def _peer_limit(self) -> int: ...
        def _release(self, s: Any) -> None: ...

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

    def _admitted(self, id: int, stream: bool) -> bool:
        """Whether the peer's CALL or STREAM_OPEN ``id`` may run: False if it was refused (the
        connection is closing, or at its concurrency limit); an id still running is fatal."""
        if id in self.incoming:
            if stream:
                raise ProtocolError(f"peer reused id {id} while that call or stream was still running")
            raise ProtocolError(f"peer reused call id {id} while that call was still running")
        if self.state == "closing":
            self._queue([P.ERROR, id, Status.UNAVAILABLE, _BODY_UNAVAILABLE])
            return False
        limit = self.options.max_concurrent_calls
        if len(self.incoming) >= limit:
            what = "calls and streams" if stream else "calls"
            self._refuse(id, Status.RESOURCE_EXHAUSTED, {"name": "ResourceExhausted", "message": f"too many concurrent {what} (limit {limit})"})
            return False
        return True

    def _on_call(self, m: List[Any], events: List[Tuple[Any, ...]]) -> None:
        id = m[1]
        if not self._admitted(id, False):
            return
        call = IncomingCall(id, m[2], m[3], m[4])
        self.incoming[id] = call
        events.append((EV_CALL, call))

    # ------------------------------------------------------------------ answers

    def send_result(self, call: IncomingCall, value: Any) -> bool:
        """Answers a call the peer made. False if it is no longer running (cancelled, expired)."""
        if self.incoming.get(call.id) is not call or self.state == "closed":
            return False
        del self.incoming[call.id]
        if call.is_stream:
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
