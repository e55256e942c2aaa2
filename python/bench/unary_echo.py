"""The limits the unary benchmark measures against, each a bare Python socket loop in a process
of its own carrying the same frames (4-byte length + msgpack): the plain echo (answers CALL
only, one connection) and the echo that answers the handshake too (any client's own limit).
The two servers' scripts share their frame loop, written once below."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from typing import Dict

import msgpack

from unary_settings import N, PIPELINE

#: Both servers begin so: a listening socket on a free port, its number printed.
_LISTEN = r"""
import socket, struct, sys, msgpack
hdr = struct.Struct(">I")
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
print(srv.getsockname()[1], flush=True)
"""

#: Both servers' frame loop: read, then cut out each complete frame as ``m``. A script's line
#: ``@READ_FRAMES`` stands for it (at that line's indentation); the lines after it, one level
#: in, answer ``m`` into ``out``.
_READ_FRAMES = r"""data = c.recv(65536)
if not data:
    break
buf += data
out = []
while len(buf) >= 4:
    (n,) = hdr.unpack_from(buf)
    if len(buf) < 4 + n:
        break
    m = msgpack.unpackb(buf[4 : 4 + n])
    buf = buf[4 + n :]
"""


def _server_script(body: str) -> str:
    """``_LISTEN``, then ``body`` with its ``@READ_FRAMES`` line spelled out."""
    lines = []
    for line in body.splitlines(keepends=True):
        if line.strip() == "@READ_FRAMES":
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + frame_line for frame_line in _READ_FRAMES.splitlines(keepends=True)]
        else:
            lines.append(line)
    return _LISTEN + "".join(lines)


#: The plain echo: one connection, CALL -> RESULT.
ECHO_SERVER = _server_script(
    r"""c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
while True:
    @READ_FRAMES
        p = msgpack.packb([17, m[1], m[3]["a"] + m[3]["b"]])
        out.append(hdr.pack(len(p)) + p)
    c.sendall(b"".join(out))
"""
)


#: The same loop with just enough of the protocol for a real client (HELLO -> WELCOME, CALL ->
#: RESULT, PING -> PONG, SHUTDOWN -> close), one connection after another: the limit for a given client, so that a
#: pairing's gap can be told apart into the server's share and the client's.
ECHO_HANDSHAKE_SERVER = _server_script(
    r"""welcome = {"protocol": "wirecall", "version": 1, "peerName": "echo", "peerVersion": "0", "connectionId": "echo",
           "maxFrameSize": 16 << 20, "heartbeatMs": 0, "streamWindowMessages": 1024, "streamWindowBytes": 262144}
def frame(m):
    p = msgpack.packb(m)
    return hdr.pack(len(p)) + p
while True:
    c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    closing = False
    while not closing:
        @READ_FRAMES
            if m[0] == 16:
                p = msgpack.packb([17, m[1], m[3]["a"] + m[3]["b"]])
                out.append(hdr.pack(len(p)) + p)
            elif m[0] == 1:
                out.append(frame([2, welcome]))
            elif m[0] == 48:
                out.append(frame([49, m[1]]))
            elif m[0] == 50:
                closing = True
        if out:
            c.sendall(b"".join(out))
    c.close()
"""
)


def echo_handshake_server() -> "subprocess.Popen[str]":
    return subprocess.Popen([sys.executable, "-c", ECHO_HANDSHAKE_SERVER], stdout=subprocess.PIPE, text=True)


def plain_echo() -> Dict[str, float]:
    """The limit: a bare socket echo in its own process, the same frames, msgpack on both ends."""
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())  # type: ignore[union-attr]
    hdr = struct.Struct(">I")
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(i: int) -> None:
        p = msgpack.packb([16, i, "add", {"a": i, "b": 1}, None])
        s.sendall(hdr.pack(len(p)) + p)

    def read(k: int) -> None:
        buf = b""
        got = 0
        while got < k:
            buf += s.recv(65536)
            while len(buf) >= 4:
                (n,) = hdr.unpack_from(buf)
                if len(buf) < 4 + n:
                    break
                msgpack.unpackb(buf[4 : 4 + n])
                buf = buf[4 + n :]
                got += 1

    t = time.perf_counter()
    for i in range(N):
        call(i)
        read(1)
    one = N / (time.perf_counter() - t)
    t = time.perf_counter()
    for start in range(0, N, PIPELINE):
        for i in range(start, start + PIPELINE):
            call(i)
        read(PIPELINE)
    piped = N / (time.perf_counter() - t)
    s.close()
    proc.wait(5)
    return {"one_in_flight": one, "pipelined": piped}
