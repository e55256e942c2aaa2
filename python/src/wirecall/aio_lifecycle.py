"""The life of an asyncio Connection after it is made: the handshake's timeout, a refused
handshake and a fatal error (half-close and linger), heartbeats and the watchdogs of the tick
(silent peer, unfinished frame, slow reader), and closing: drain, fail what is in flight,
terminate. A mixin of ``aio_connection.Connection``."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Dict, List, Optional

from .aio_calls import _Waiter
from .aio_state import _ConnectionState
from .core import PeerInfo
from .errors import ConnectionClosed, ConnectionLost, HandshakeTimeout, LimitExceeded, WirecallError

LINGER = 2.0


class _Lifecycle(_ConnectionState):
    """Keeping a Connection alive and closing it (its state lives on the Connection)."""

    # What else it uses of the Connection (declared for the type checker; set in Connection.__init__).
    address: str
    _handshake: "asyncio.Future[PeerInfo]"
    _draining: Optional["asyncio.Task[None]"]
    _timers: List[asyncio.TimerHandle]
    _tick_handle: Optional[asyncio.TimerHandle]
    _last_ping: float
    _pings: Dict[int, "asyncio.Future[float]"]

    if TYPE_CHECKING:

        def _auth_delay(self) -> float: ...
        def _detach_from_server(self) -> None: ...

    def _refused(self, reason: str, message: str, auth: bool) -> None:
        delay = self._auth_delay() if auth else 0.0
        if delay > 0:
            data = self.core.data_to_send()

            def later() -> None:
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.write(data)
                self._half_close_and_linger()

            self._timers.append(self._loop.call_later(delay, later))
        else:
            self._flush()
            self._half_close_and_linger()

    def _half_close_and_linger(self, error: Optional[WirecallError] = None) -> None:
        """Close our side (EOF), drop the socket LINGER seconds later if the peer has not, and finish."""
        t = self.transport
        if t is not None and not t.is_closing():
            try:
                if t.can_write_eof():
                    t.write_eof()
            except Exception:
                pass
            self._loop.call_later(LINGER, t.abort)
        self._finish_closed(error if error is not None else ConnectionClosed("handshake refused"))

    def _fatal(self, error: WirecallError) -> None:
        # The reason is the last frame we write; then close our side and let the peer go.
        self._flush()
        self._close_error = error
        if not self._handshake.done():
            self._handshake.set_exception(error)
        self._fail_everything(error)
        self._half_close_and_linger(error)

    def _handshake_timeout(self) -> None:
        if self.core.state == "pending":
            err = HandshakeTimeout(f"handshake did not complete within {int(self._options.handshake_timeout * 1000)} ms")
            if not self._handshake.done():
                self._handshake.set_exception(err)
            self._terminate(err)

    def _schedule_tick(self) -> None:
        interval = self._options.heartbeat_interval
        step = min(interval, 1.0) if interval > 0 else 1.0
        self._tick_handle = self._loop.call_later(step, self._tick)

    def _tick(self) -> None:
        core = self.core
        if core.state not in ("connected", "closing"):
            return
        now = time.monotonic()
        own = self._options.heartbeat_interval
        if self._write_paused and now - self._write_paused_since > self._options.slow_peer_timeout:
            # Over the high-water mark with nothing read by the peer for that long: cut, no reason frame.
            self._terminate(LimitExceeded(f"peer read none of our frames for {int(self._options.slow_peer_timeout * 1000)} ms (slowPeerTimeout)"))
            return
        if core.partial_since is not None and now - core.partial_since > self._options.frame_timeout:
            events = core.fail(LimitExceeded(f"a frame was not completed within {int(self._options.frame_timeout * 1000)} ms (frameTimeout; {core.partial_bytes} bytes of it arrived)"))
            self._handle(events)
            return
        if own > 0:
            peer_ms = core.peer.heartbeat_ms if core.peer else 0
            allowed = 3 * max(own, peer_ms / 1000.0)
            silent = now - core.last_heard
            if silent > allowed and not self._paused_reading:
                self._terminate(ConnectionLost(f"peer silent for {int(silent * 1000)} ms (3 heartbeat intervals of {int(allowed * 1000 / 3)} ms)"))
                return
            if now - self._last_ping >= own - 0.001:
                self._last_ping = now
                core.heartbeat()
                self._flush()
        self._schedule_tick()

    # closing -------------------------------------------------------------------

    def _start_drain(self, drain_timeout: Optional[float]) -> None:
        if self._draining is not None:
            return
        self._drained = asyncio.Event()
        timeout = self._options.drain_timeout if drain_timeout is None else drain_timeout
        self._draining = self._loop.create_task(self._drain(timeout))
        self._check_drained()

    def _check_drained(self) -> None:
        if self._drained is not None and self.core.idle and self.core.state == "closing":
            self._drained.set()

    async def _drain(self, timeout: float) -> None:
        assert self._drained is not None
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
            error: WirecallError = ConnectionClosed("connection closed")
        except asyncio.TimeoutError:
            error = ConnectionClosed(f"connection closed; drain timeout of {int(timeout * 1000)} ms passed")
        if self.core.state == "closed":
            return
        self._flush()
        self._fail_everything(error)
        t = self.transport
        if t is not None and not t.is_closing():
            try:
                if t.can_write_eof():
                    t.write_eof()
                else:
                    t.close()
            except Exception:
                t.close()
            self._loop.call_later(LINGER, t.abort)
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), LINGER + 0.5)
        except asyncio.TimeoutError:
            self._terminate(None)

    def _fail_everything(self, error: WirecallError) -> None:
        core = self.core
        for w in list(core.outgoing.values()):
            if isinstance(w, _Waiter):
                w.settle(None, error)
            else:
                w.waiter._finish(None, error)
        core.outgoing.clear()
        for call in list(core.incoming.values()):
            if call.handle is not None:
                call.handle._abort(error)
        core.incoming.clear()
        for f in self._pings.values():
            if not f.done():
                f.set_exception(error)
        for key in list(self._credit_waiters):
            self._wake_credit(key)

    def _terminate(self, error: Optional[WirecallError], reason: Optional[str] = None) -> None:
        """The byte stream is over (or we end it now)."""
        if error is None:
            error = ConnectionClosed(f"peer closed the connection ({reason})" if reason else "connection closed")
        if self._close_error is None:
            self._close_error = error
        self.core.close()
        if not self._handshake.done():
            self._handshake.set_exception(error)
        self._fail_everything(self._close_error)
        t = self.transport
        if t is not None and not t.is_closing():
            t.abort()
        self._finish_closed(self._close_error)

    def _finish_closed(self, error: Optional[BaseException]) -> None:
        self.core.close()
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if not self._closed.done():
            self._closed.set_result(error)
        self._detach_from_server()


#: The blocking face that handlers running on threads see as ``ctx.connection``; set by
#: ``wirecall.blocking`` when it is imported (the package's ``__init__`` does), so that
#: this module never imports it (``blocking`` is built on this one).
