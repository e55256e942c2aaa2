"""A TLS listener for the asyncio Server (as src/transport/tls.ts): each accepted socket's first
byte is peeked at before TLS takes it over. A TLS client opens with a handshake record (0x16,
which no wirecall frame starts with) and goes on to TLS, within the handshake timeout; anything
else is a plain client, answered in clear with REJECT ``TLS_REQUIRED`` by the Connection the
``plain`` factory makes. A socket that sends nothing within the handshake timeout is dropped.

On Windows (the proactor loop cannot wait for a socket to be readable) there is no peek: every
socket goes to TLS, and a plain client is just hung up on."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from typing import Any, Callable, List, Set

from .errors import HandshakeTimeout, TlsError, TlsRequired, WirecallError
from .tls_peer import tls_failure

__all__ = ["TlsListener"]

TLS_HANDSHAKE_RECORD = 0x16


def _address(sock: socket.socket) -> str:
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _first_byte(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    if sys.platform == "win32":  # pragma: no cover - no add_reader on the proactor loop
        return bytes([TLS_HANDSHAKE_RECORD])
    readable: "asyncio.Future[None]" = loop.create_future()
    fd = sock.fileno()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
    return sock.recv(1, socket.MSG_PEEK)


class TlsListener:
    """Accepts on ``sock`` (listening, non-blocking); ``factory`` makes the Connection of a TLS
    client, ``plain`` that of a plain one, ``dropped`` is told of a Connection whose TLS handshake
    failed (it never started), ``on_error`` of each failure as a typed error (TlsRequired,
    HandshakeTimeout, CertificateUntrusted…) with the client's address. ``full(n)`` says whether
    the server is at its connection limit counting the ``n`` sockets still before TLS here: a
    new socket is then closed at once."""

    def __init__(
        self,
        sock: socket.socket,
        context: ssl.SSLContext,
        factory: Callable[[], Any],
        plain: Callable[[], Any],
        dropped: Callable[[Any], None],
        handshake_timeout: float,
        on_error: Callable[[WirecallError, str], None],
        full: Callable[[int], bool] = lambda pending: False,
    ) -> None:
        self.sockets: List[socket.socket] = [sock]
        self._sock = sock
        self._context = context
        self._factory = factory
        self._plain = plain
        self._dropped = dropped
        self._timeout = handshake_timeout
        self._on_error = on_error
        self._full = full  # full(sockets still before TLS here): at the connection limit
        self._peeking = 0  # sockets whose first byte is awaited (then the Connection counts)
        self._loop = asyncio.get_running_loop()
        self._loop_any: Any = self._loop  # connect_accepted_socket: BaseEventLoop's before Python 3.10
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._accepting = self._loop.create_task(self._accept())

    async def _accept(self) -> None:
        while True:
            try:
                client, _ = await self._loop.sock_accept(self._sock)
            except OSError:
                if self._sock.fileno() < 0:
                    return
                await asyncio.sleep(0.05)  # out of file descriptors: try again shortly
                continue
            if self._full(self._peeking):  # closed before any TLS, as by TypeScript
                client.close()
                continue
            self._peeking += 1
            client.setblocking(False)
            task = self._loop.create_task(self._serve(client))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, client: socket.socket) -> None:
        address = _address(client)
        ms = int(self._timeout * 1000)
        try:
            first = await asyncio.wait_for(_first_byte(self._loop, client), self._timeout)
        except asyncio.TimeoutError:
            self._peeking -= 1
            client.close()
            self._on_error(HandshakeTimeout(f"{address} sent nothing within {ms} ms (no TLS handshake)"), address)
            return
        except OSError:
            self._peeking -= 1
            client.close()
            return
        except asyncio.CancelledError:
            self._peeking -= 1
            client.close()
            raise
        self._peeking -= 1
        if first == b"":
            client.close()
            return
        if first[0] != TLS_HANDSHAKE_RECORD:
            self._on_error(TlsRequired(f"a plain client on a TLS port, refused: the client at {address} does not speak TLS"), address)
            await self._loop_any.connect_accepted_socket(self._plain, client)
            return
        made: List[Any] = []

        def factory() -> Any:
            made.append(self._factory())
            return made[-1]

        try:
            await self._loop_any.connect_accepted_socket(factory, client, ssl=self._context, ssl_handshake_timeout=self._timeout)
        except (OSError, asyncio.TimeoutError) as e:  # a refused certificate, a timeout, a hang-up
            client.close()
            for conn in made:
                self._dropped(conn)
            if isinstance(e, (asyncio.TimeoutError, ConnectionAbortedError)) and not isinstance(e, ssl.SSLError):
                error: WirecallError = HandshakeTimeout(f"TLS handshake with {address} did not complete within {ms} ms")
            else:
                error = tls_failure(e, "server", address) or TlsError(f"TLS handshake with {address} failed: {e}")
            self._on_error(error, address)

    def close(self) -> None:
        self._accepting.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._sock.close()

    async def wait_closed(self) -> None:
        await asyncio.gather(self._accepting, *self._tasks, return_exceptions=True)


def listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on host:port (the first address it resolves to)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], info[1], info[2])
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
        sock.listen(511)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock

