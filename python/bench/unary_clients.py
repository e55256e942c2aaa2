"""The clients the unary benchmark measures: the Python asyncio and blocking clients, the
TypeScript client (python/tests/fixtures/ts_client.mjs), each for calls/s, and the stream
readers for MB/s."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from typing import Dict

import wirecall
from wirecall import aio

from unary_settings import CHUNK_SIZE, CHUNKS_N, N, PIPELINE, REPO


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
