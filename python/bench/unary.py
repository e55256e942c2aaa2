"""Quick unary benchmark: calls/s with one call in flight and with many pipelined.

    python bench/unary.py                 # every pairing this machine can run, JSON
    python bench/unary.py --markdown      # the table docs/PERFORMANCE.md shows (npm run bench:python)
    N=20000 REPEAT=5 python bench/unary.py --markdown

Pairs: Python client → TS demo server, TS client → Python server (asyncio, and blocking
with its worker pool), Python ↔ Python (the server in a process of its own, and in the
client's process), and a plain Python socket echo carrying the same frames (4-byte length +
msgpack) as the limit; then each client against a plain echo that answers the handshake
(that client's own limit). Over TCP on 127.0.0.1.

One module per job: unary_settings (N, PIPELINE, REPEAT, ... from the environment),
unary_clients (the clients measured), unary_echo (the plain echoes, the limits), unary_table
(the Markdown table); this one runs the pairings.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any, Dict

import wirecall
from wirecall import aio

from unary_clients import blocking_client, py_client, py_stream_reader, ts_client, ts_stream_reader
from unary_echo import echo_handshake_server, plain_echo
from unary_settings import N, PIPELINE, REPEAT, REPO, TS_DIST
from unary_table import markdown


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
