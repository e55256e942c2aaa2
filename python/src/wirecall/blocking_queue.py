"""``MainThreadQueue``: a stand-in for a DCC's "run this on the main thread" hook."""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from typing import Any, Callable, Optional, Tuple


class MainThreadQueue:
    """A stand-in for a DCC's "run this on the main thread" hook, and a way to build one.

    ``run(fn, *args)`` may be called from any thread: it queues ``fn`` and blocks until the
    main thread has run it (what ``executeInMainThreadWithResult`` does). The main thread
    calls :meth:`process` from its event loop or a timer (Blender: ``bpy.app.timers``;
    Houdini: an event-loop callback), or :meth:`run_forever`. Pass ``queue.run`` as a
    Server's ``executor``.
    """

    def __init__(self) -> None:
        self._q: "queue.Queue[Optional[Tuple[Callable[..., Any], Tuple[Any, ...], concurrent.futures.Future[Any]]]]" = queue.Queue()
        self._stopped = False
        self.thread: Optional[threading.Thread] = None

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.thread is not None and threading.current_thread() is self.thread:
            return fn(*args)
        future: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        self._q.put((fn, args, future))
        return future.result()

    def process(self, timeout: float = 0.0, limit: int = 100) -> int:
        """Runs queued functions on the calling thread (waiting up to ``timeout`` for the first); returns how many ran."""
        self.thread = threading.current_thread()
        ran = 0
        while ran < limit:
            try:
                item = self._q.get(timeout=timeout) if ran == 0 and timeout > 0 else self._q.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stopped = True
                break
            fn, args, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as e:
                    future.set_exception(e)
            ran += 1
        return ran

    def run_forever(self) -> None:
        """Processes until :meth:`stop`."""
        while not self._stopped:
            self.process(timeout=0.05)

    def stop(self) -> None:
        self._q.put(None)
