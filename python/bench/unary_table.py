"""The unary benchmark's Markdown table (docs/PERFORMANCE.md): each pairing's median over
the runs (min–max), and its ratio to the plain echo's best run."""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Optional

import msgpack

from unary_settings import CHUNK_SIZE


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
