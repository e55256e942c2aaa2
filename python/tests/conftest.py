"""Shared fixtures: paths, the TypeScript CLI, and a bounded time for every test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent
REPO = PYTHON_DIR.parent
VECTORS = REPO / "spec" / "vectors.json"
# The TypeScript build the cross-language tests run (npm run build); WIRECALL_TS_DIST points elsewhere.
TS_DIST = Path(os.environ.get("WIRECALL_TS_DIST", str(REPO / "dist")))
TS_CLI = TS_DIST / "src" / "cli" / "main.js"
TS_INDEX = TS_DIST / "src" / "index.js"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def node_available() -> bool:
    return shutil.which("node") is not None and TS_CLI.exists() and TS_INDEX.exists()


requires_node = pytest.mark.skipif(not node_available(), reason="node or the TypeScript build (npm run build) is missing")


TEST_TIME_LIMIT = int(os.environ.get("WIRECALL_TEST_TIMEOUT", "60"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    """Every test is bounded in time: SIGALRM fails one that runs past the limit."""
    import signal

    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(signum, frame):  # type: ignore[no-untyped-def]
        raise TimeoutError(f"test ran longer than {TEST_TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(coro, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    """Runs an asyncio test body, bounded in time."""
    import asyncio

    async def bounded():  # type: ignore[no-untyped-def]
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())
