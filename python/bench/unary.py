"""Quick unary benchmark: calls/s with one call in flight and with many pipelined.

    python bench/unary.py                 # every pairing this machine can run, JSON
    python bench/unary.py --markdown      # the table docs/PERFORMANCE.md shows (npm run bench:python)
    N=20000 REPEAT=5 python bench/unary.py --markdown

Pairs: Python client → TS demo server, TS client → Python server (asyncio, and blocking
with its worker pool), Python ↔ Python (the server in a process of its own, and in the
client's process), and a plain Python socket echo carrying the same frames (4-byte length +
msgpack) as the limit; then each client against a plain echo that answers the handshake
(that client's own limit). Over TCP on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import msgpack

import wirecall
from wirecall import aio

REPO = Path(__file__).resolve().parents[2]
TS_DIST = Path(os.environ.get("WIRECALL_TS_DIST", str(REPO / "dist")))
N = int(os.environ.get("N", "10000"))
PIPELINE = int(os.environ.get("PIPELINE", "64"))
REPEAT = int(os.environ.get("REPEAT", "1"))


async def py_client(endpoint: str) -> Dict[str, float]:
    conn = await aio.connect(endpoint)
    for i in range(200):
        await conn.call("add", {"a": i, "b": 1})
    t = time.perf_counter()
    for i in range(N):
        await conn.call("add", {"a": i, "b": 1})
    one = N / (time.perf_counter() - t)
    t = time.perf_counter()
    for start in range(0, N, PIPELINE):
        await asyncio.gather(*(conn.call("add", {"a": i, "b": 1}) for i in range(start, start + PIPELINE)))
    piped = N / (time.perf_counter() - t)
    await conn.close()
    return {"one_in_flight": one, "pipelined": piped}


def blocking_client(endpoint: str) -> float:
    with wirecall.connect(endpoint) as conn:
        for i in range(200):
            conn.call("add", {"a": i, "b": 1})
        t = time.perf_counter()
        for i in range(N):
            conn.call("add", {"a": i, "b": 1})
        return N / (time.perf_counter() - t)


def ts_client(endpoint: str, scenario: str = "loop") -> float:
    """The TypeScript client (python/tests/fixtures/ts_client.mjs): ``loop`` (one in flight) or ``pipelined``."""
    out = subprocess.run(
        ["node", str(REPO / "python/tests/fixtures/ts_client.mjs"), endpoint, scenario],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, LOOP_N=str(N), PIPELINE=str(PIPELINE)),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["callsPerSecond"]


ECHO_SERVER = r"""
import socket, struct, sys, msgpack
hdr = struct.Struct(">I")
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
print(srv.getsockname()[1], flush=True)
c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
while True:
    data = c.recv(65536)
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
        p = msgpack.packb([17, m[1], m[3]["a"] + m[3]["b"]])
        out.append(hdr.pack(len(p)) + p)
    c.sendall(b"".join(out))
"""


#: The same loop with just enough of the protocol for a real client (HELLO -> WELCOME, CALL ->
#: RESULT, PING -> PONG, SHUTDOWN -> close), one connection after another: the limit for a given client, so that a
#: pairing's gap can be told apart into the server's share and the client's.
ECHO_HANDSHAKE_SERVER = r"""
import socket, struct, sys, msgpack
hdr = struct.Struct(">I")
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
print(srv.getsockname()[1], flush=True)
welcome = {"protocol": "wirecall", "version": 1, "peerName": "echo", "peerVersion": "0", "connectionId": "echo",
           "maxFrameSize": 16 << 20, "heartbeatMs": 0, "streamWindowMessages": 1024, "streamWindowBytes": 262144}
def frame(m):
    p = msgpack.packb(m)
    return hdr.pack(len(p)) + p
while True:
    c, _ = srv.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    closing = False
    while not closing:
        data = c.recv(65536)
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


#: A Python asyncio server in a process of its own (sync handler, inline on the loop), as a
#: deployment runs it: the in-process pairings share one interpreter and its GIL between the
#: client's thread and the server's.
PY_SERVER = r"""
import asyncio
from wirecall import aio

async def main():
    s = aio.Server()
    s.register("add", lambda p: p["a"] + p["b"])
    print(await s.listen("tcp://127.0.0.1:0"), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


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


CHUNKS_N = int(os.environ.get("CHUNKS_N", "2000"))
CHUNK_SIZE = int(os.environ.get("CHUNK_SIZE", "65536"))


async def py_stream_reader(endpoint: str) -> float:
    conn = await aio.connect(endpoint)
    t = time.perf_counter()
    total = 0
    async for chunk in conn.stream("chunks", {"n": CHUNKS_N, "size": CHUNK_SIZE}):
        total += len(chunk)
    mbps = total / 1e6 / (time.perf_counter() - t)
    await conn.close()
    return mbps


def ts_stream_reader(endpoint: str) -> float:
    out = subprocess.run(
        ["node", str(REPO / "python/tests/fixtures/ts_client.mjs"), endpoint, "chunks"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, CHUNKS_N=str(CHUNKS_N), CHUNK_SIZE=str(CHUNK_SIZE)),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["megabytesPerSecond"]


def _listening(proc: "subprocess.Popen[str]") -> str:
    """The endpoint a TS server printed on its first line (``listening on <endpoint>``)."""
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the TypeScript server in {TS_DIST} did not start (is the build complete? npm run build)")
    return line[len("listening on ") :]


def measure() -> Dict[str, Any]:
    """One run of every pairing."""
    results: Dict[str, Any] = {"N": N, "pipeline": PIPELINE, "python": sys.version.split()[0]}
    results["plain_python_echo"] = plain_echo()
    # Python ↔ Python
    server = wirecall.Server()
    server.aio.register("add", lambda p: p["a"] + p["b"])  # asyncio handler path: inline on the loop
    ep = server.listen("tcp://127.0.0.1:0")
    results["py_client_to_py_server"] = asyncio.run(py_client(ep))
    results["py_blocking_client_to_py_server"] = blocking_client(ep)
    server.close()
    own = subprocess.Popen([sys.executable, "-c", PY_SERVER], stdout=subprocess.PIPE, text=True)
    own_ep = own.stdout.readline().strip()  # type: ignore[union-attr]
    results["py_client_to_py_server_process"] = asyncio.run(py_client(own_ep))
    results["py_blocking_client_to_py_server_process"] = blocking_client(own_ep)
    own.kill()
    own.wait(5)
    # TS server
    ts = subprocess.Popen(["node", str(TS_DIST / "src/cli/main.js"), "serve", "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    ts_ep = _listening(ts)
    results["py_client_to_ts_server"] = asyncio.run(py_client(ts_ep))
    results["py_blocking_client_to_ts_server"] = blocking_client(ts_ep)
    results["ts_client_to_ts_server"] = {"one_in_flight": ts_client(ts_ep), "pipelined": ts_client(ts_ep, "pipelined")}
    ts.terminate()
    ts.wait(5)
    # TS client → Python servers
    s1 = wirecall.Server()
    s1.register("add", lambda p: p["a"] + p["b"])  # blocking server: handler on the worker pool
    ep1 = s1.listen("tcp://127.0.0.1:0")
    results["ts_client_to_py_blocking_server_pool"] = ts_client(ep1)
    s1.close()

    async def aio_server() -> Dict[str, float]:
        s = aio.Server()
        s.register("add", lambda p: p["a"] + p["b"])
        ep2 = await s.listen("tcp://127.0.0.1:0")
        loop = asyncio.get_running_loop()
        one = await loop.run_in_executor(None, ts_client, ep2)
        piped = await loop.run_in_executor(None, ts_client, ep2, "pipelined")
        await s.close()
        return {"one_in_flight": one, "pipelined": piped}

    results["ts_client_to_py_asyncio_server"] = asyncio.run(aio_server())
    # The same clients against the plain echo with a handshake: each client's own limit
    echo = echo_handshake_server()
    echo_ep = f"tcp://127.0.0.1:{int(echo.stdout.readline())}"  # type: ignore[union-attr]
    results["ts_client_to_plain_echo"] = {"one_in_flight": ts_client(echo_ep), "pipelined": ts_client(echo_ep, "pipelined")}
    results["py_client_to_plain_echo"] = asyncio.run(py_client(echo_ep))
    results["py_blocking_client_to_plain_echo"] = blocking_client(echo_ep)
    echo.kill()
    echo.wait(5)
    if os.environ.get("STREAMS", "1") == "0":
        return results

    # Streams of 64 KiB chunks, MB/s
    ts2 = subprocess.Popen(["node", str(REPO / "python/tests/fixtures/ts_server.mjs"), "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
    ts2_ep = _listening(ts2)
    results["stream_MBps_ts_server_to_py_client"] = asyncio.run(py_stream_reader(ts2_ep))
    results["stream_MBps_ts_server_to_ts_client"] = ts_stream_reader(ts2_ep)
    ts2.terminate()
    ts2.wait(5)

    async def chunk_server() -> float:
        s = aio.Server()

        async def chunks(p: Any) -> Any:
            chunk = bytes(p["size"])
            for _ in range(p["n"]):
                yield chunk

        s.register_stream("chunks", chunks)
        ep3 = await s.listen("tcp://127.0.0.1:0")
        r = await asyncio.get_running_loop().run_in_executor(None, ts_stream_reader, ep3)
        await s.close()
        return r

    results["stream_MBps_py_server_to_ts_client"] = asyncio.run(chunk_server())
    return results


def _cell(runs: List[Dict[str, Any]], key: str, sub: Optional[str]) -> List[float]:
    values = []
    for r in runs:
        v = r.get(key)
        if isinstance(v, dict):
            v = v.get(sub) if sub else None
        elif sub == "pipelined":
            v = None
        if isinstance(v, (int, float)):
            values.append(float(v))
    return values


def _fmt(values: List[float], limit: Optional[float] = None, unit: str = "") -> str:
    if not values:
        return "—"
    med = statistics.median(values)
    text = f"{med / 1000:.1f}k" if not unit else f"{med:.0f}{unit}"
    if len(values) > 1:
        lo, hi = min(values), max(values)
        text += f" ({lo / 1000:.1f}–{hi / 1000:.1f}k)" if not unit else f" ({lo:.0f}–{hi:.0f})"
    if limit:
        text += f" **{med / limit:.2f}×**"
    return text


PAIRINGS = [
    ("plain Python socket echo (the limit)", "plain_python_echo"),
    ("Python asyncio client → TS server", "py_client_to_ts_server"),
    ("TS client → Python asyncio server", "ts_client_to_py_asyncio_server"),
    ("Python asyncio client → Python asyncio server, its own process", "py_client_to_py_server_process"),
    ("Python asyncio client → Python asyncio server, same process", "py_client_to_py_server"),
    ("Python blocking client → TS server", "py_blocking_client_to_ts_server"),
    ("Python blocking client → Python asyncio server, its own process", "py_blocking_client_to_py_server_process"),
    ("Python blocking client → Python server, same process", "py_blocking_client_to_py_server"),
    ("TS client → Python blocking server, worker pool", "ts_client_to_py_blocking_server_pool"),
    ("TS client → TS server (for comparison)", "ts_client_to_ts_server"),
    ("TS client → plain echo with a handshake (the TS client's own limit)", "ts_client_to_plain_echo"),
    ("Python asyncio client → plain echo with a handshake", "py_client_to_plain_echo"),
    ("Python blocking client → plain echo with a handshake", "py_blocking_client_to_plain_echo"),
]


def markdown(runs: List[Dict[str, Any]]) -> str:
    """The table: median of the runs (min–max), and × the plain echo's best run: a run of the
    limit that other work on the machine slowed down would flatter every ratio."""
    echo_one = max(_cell(runs, "plain_python_echo", "one_in_flight"))
    echo_piped = max(_cell(runs, "plain_python_echo", "pipelined"))
    r0 = runs[0]
    lines = [
        f"Python {r0['python']}, msgpack {msgpack.version[0]}.{msgpack.version[1]}.{msgpack.version[2]}, TCP on 127.0.0.1, "
        f"{r0['N']} calls per cell, {len(runs)} run(s): median (min–max), **× the plain echo's best run**. "
        f"Goals (issue 13): one in flight ≥ 0.7×, pipelined ≥ 0.5×.",
        "",
        f"| pairing | calls/s, one in flight | calls/s, {r0['pipeline']} pipelined |",
        "| --- | ---: | ---: |",
    ]
    for label, key in PAIRINGS:
        is_echo = key == "plain_python_echo"
        one = _fmt(_cell(runs, key, "one_in_flight"), None if is_echo else echo_one)
        piped = _fmt(_cell(runs, key, "pipelined"), None if is_echo else echo_piped)
        lines.append(f"| {label} | {one} | {piped} |")
    streams = [
        ("TS server → Python asyncio client", "stream_MBps_ts_server_to_py_client"),
        ("Python asyncio server → TS client", "stream_MBps_py_server_to_ts_client"),
        ("TS server → TS client (for comparison)", "stream_MBps_ts_server_to_ts_client"),
    ]
    if any(_cell(runs, key, None) for _, key in streams):
        lines += ["", f"| server stream of {CHUNK_SIZE // 1024} KiB chunks | MB/s |", "| --- | ---: |"]
        for label, key in streams:
            lines.append(f"| {label} | {_fmt(_cell(runs, key, None), None, ' MB/s')} |")
    return "\n".join(lines)


def main() -> None:
    runs = []
    for i in range(REPEAT):
        if "--markdown" in sys.argv:
            print(f"run {i + 1}/{REPEAT}…", file=sys.stderr, flush=True)
        runs.append(measure())
    if "--markdown" in sys.argv:
        print(markdown(runs))
    else:
        print(json.dumps(runs[0] if len(runs) == 1 else runs, indent=2))


if __name__ == "__main__":
    main()
