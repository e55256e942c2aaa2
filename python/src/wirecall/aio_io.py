"""Bytes in and out of an asyncio Connection: the asyncio.Protocol callbacks after
connection_made (reads into one buffer per connection, end of file, loss, the transport's
flow control) and writing (one write per loop iteration, or at once for a call alone in
flight). A mixin of ``aio_connection.Connection``."""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import TYPE_CHECKING, Optional

from .aio_state import _ConnectionState
from .errors import ConnectionClosed, ConnectionLost, LimitExceeded, TlsError, WirecallError
from .tls_peer import tls_failure

MAX_WRITE_BUFFER = 64 * 1024 * 1024
#: Unsent bytes at which we stop reading from the peer (its answers wait), at most.
HIGH_WATER = 256 * 1024
LOW_WATER = HIGH_WATER // 2
#: A connection's first write mark (resume at half). It doubles, up to HIGH_WATER, each
#: time the peer catches up after reaching it: a peer that never reads holds 64 KiB of
#: our answers, not 256 KiB (as on the TypeScript side, FrameWriter).
START_WATER = 64 * 1024
#: The buffer the transport reads into (asyncio.BufferedProtocol), one per connection. With a plain
#: Protocol asyncio allocates a fresh 256 KiB bytes object per read (mmap, mremap and munmap: three
#: syscalls a call); reading into this one costs none.
READ_BUFFER = 256 * 1024


class _Io(_ConnectionState):
    """Reading and writing for a Connection (its state lives on the Connection)."""

    # What else it uses of the Connection (declared for the type checker; set in Connection.__init__).
    _read_view: memoryview
    _heard: bool

    if TYPE_CHECKING:

        def _terminate(self, error: Optional[WirecallError], reason: Optional[str] = None) -> None: ...

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        # The core's decoder keeps no reference to the view: what it has not made frames of is copied.
        self.data_received(self._read_view[:nbytes])

    def data_received(self, data: bytes) -> None:
        self._heard = True
        core = self.core
        events = core.receive_data(data)
        if events:
            self._flush_pending = True  # answers made while handling are written once, below
            try:
                self._handle(events)
            finally:
                self._flush_pending = False
        if core.has_data:
            self._flush()
        if core.state == "closing":
            self._check_drained()

    def eof_received(self) -> bool:
        core = self.core
        if core.state == "closing" and core.incoming:
            return True  # the peer is done sending; our answers still go out, then we close
        if core.state == "closing":
            self._terminate(None)
        elif core.state == "pending" and core.tls is not None and core.role == "client":
            # A Python (ssl) TLS server refuses an untrusted or expired client certificate in the TLS
            # handshake and hangs up without an alert we could read: the nearest we can say.
            self._terminate(TlsError(f"{core.address} hung up right after the TLS handshake, before answering HELLO: it refused our client certificate, or sends no REJECT"))
        elif core.state == "pending":
            self._terminate(ConnectionClosed("connection closed before the handshake completed"))
        else:
            self._terminate(ConnectionLost("connection lost (the peer closed the connection)"))
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.core.state == "closed" and self._closed.done():
            return
        if self.core.state == "closing":
            reason = self.core.shutdown_reason
            self._terminate(None if exc is None else ConnectionClosed(f"peer closed the connection ({exc})"), reason)
        elif self.core.state == "pending":
            # Over TLS 1.3 a refused client certificate arrives as an alert after the TLS handshake.
            tls = tls_failure(exc, self.core.role, self.core.address) if isinstance(exc, ssl.SSLError) else None
            self._terminate(tls or ConnectionClosed("connection closed before the handshake completed"))
        elif self.core.state == "closed":
            self._terminate(self._close_error)
        else:
            self._terminate(ConnectionLost(f"connection lost ({exc})" if exc else "connection lost"))

    def pause_writing(self) -> None:
        # The peer does not read its answers: stop reading its calls, unless calls or
        # streams of our own wait on it (what we would read may be their answers).
        self._write_paused = True
        self._write_paused_since = time.monotonic()
        t = self.transport
        if t is not None and not self.core.outgoing and not self._paused_reading:
            try:
                t.pause_reading()
                self._paused_reading = True
            except Exception:
                pass
        if t is not None and t.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self._terminate(LimitExceeded("peer does not read its answers (write buffer over the limit)"))

    def resume_writing(self) -> None:
        self._write_paused = False
        t = self.transport
        if t is not None and self._write_mark < HIGH_WATER:
            # The peer caught up: it reads, so it may have more room next time.
            self._write_mark = min(HIGH_WATER, self._write_mark * 2)
            try:
                t.set_write_buffer_limits(high=self._write_mark, low=self._write_mark // 2)
            except Exception:
                pass
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            try:
                self.transport.resume_reading()
            except Exception:
                pass
        for key in list(self._credit_waiters):
            self._wake_credit(key)

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        data = self.core.data_to_send()
        t = self.transport
        if data and t is not None and not t.is_closing():
            t.write(data)
            if self._write_paused and t.get_write_buffer_size() > MAX_WRITE_BUFFER:
                # Answers of calls already running kept coming for a peer that reads none: cut at once.
                self._terminate(LimitExceeded("peer does not read its answers (maxWriteBuffer)"))
