"""The blocking API's background, shared by the process: one asyncio loop on a daemon thread
(``_LoopThread``; a ``_LoopRef`` is any loop running on some thread, used from others) and
the worker pool that runs handlers when no executor is given."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine, Optional, TypeVar

_T = TypeVar("_T")


class _LoopRef:
    """An asyncio loop running on some thread, used from other threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.loop = loop
        self.thread = thread

    def submit(self, coro: Coroutine[Any, Any, _T]) -> "concurrent.futures.Future[_T]":
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a blocking wirecall call on the wirecall loop thread would deadlock; use wirecall.aio in async code")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T], timeout: Optional[float] = None) -> _T:
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: cancels the call, CANCEL goes to the peer
            raise


class _LoopThread(_LoopRef):
    """One asyncio loop on a daemon thread."""

    def __init__(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        thread = threading.Thread(target=self._run, args=(loop, ready), name="wirecall-loop", daemon=True)
        super().__init__(loop, thread)
        thread.start()
        ready.wait()

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()


_lock = threading.Lock()
_instance: Optional[_LoopThread] = None


def _loop_thread() -> _LoopThread:
    global _instance
    with _lock:
        if _instance is None or not _instance.thread.is_alive():
            _instance = _LoopThread()
        return _instance


def _started() -> Optional[_LoopThread]:
    """The loop thread, if one was started (without starting one)."""
    return _instance


_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None


def _default_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="wirecall-handler")
        return _pool
