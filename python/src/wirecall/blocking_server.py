"""A blocking server (``Server``): it listens and serves on the wirecall loop thread, its
handlers run on a worker pool of its own or through the executor given."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Dict, List, Optional

from . import aio
from .blocking_connection import Connection, _wrap
from .blocking_loop import _loop_thread


class Server:
    """A blocking server: ``listen()`` returns once bound; sockets run on the wirecall loop thread.

    ::

        server = wirecall.Server(name="maya", executor=maya.utils.executeInMainThreadWithResult)

        @server.method()
        def scene_name(params):
            return cmds.file(q=True, sn=True)

        endpoint = server.listen("tcp://127.0.0.1:7001")
    """

    def __init__(
        self,
        handlers: Optional[Dict[str, Callable[..., Any]]] = None,
        *,
        executor: Any = None,
        max_workers: int = 32,
        **options: Any,
    ) -> None:
        self._lt = _loop_thread()
        self._own_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        if executor is None:
            self._own_pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="wirecall-handler")
            executor = self._own_pool
        self._server = aio.Server(handlers, runner=aio.executor_runner(executor), _context_connection=_wrap, **options)
        self._closed = threading.Event()

    @property
    def aio(self) -> aio.Server:
        return self._server

    @property
    def endpoints(self) -> List[str]:
        return list(self._server.endpoints)

    @property
    def connections(self) -> List[Connection]:
        return [_wrap(c) for c in list(self._server.connections)]

    def register(self, method: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        if fn is None:
            return self._server.method(method)
        self._server.register(method, fn)
        return self

    def method(self, name: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return self._server.method(name)

    def register_stream(self, method: str, fn: Callable[..., Any]) -> "Server":
        self._server.register_stream(method, fn)
        return self

    def register_client_stream(self, method: str, fn: Callable[..., Any]) -> "Server":
        self._server.register_client_stream(method, fn)
        return self

    def register_bidi_stream(self, method: str, fn: Callable[..., Any]) -> "Server":
        self._server.register_bidi_stream(method, fn)
        return self

    def listen(self, endpoint: Optional[str] = None) -> str:
        """Binds and starts serving in the background; returns the endpoint bound."""
        return self._lt.run(self._server.listen(endpoint))

    def close(self, drain_timeout: Optional[float] = None) -> None:
        """Stops listening and closes every connection gracefully. Do not call it from a
        thread your executor needs: handlers still running are waited for (drain)."""
        try:
            self._lt.run(self._server.close(drain_timeout))
        finally:
            if self._own_pool is not None:
                self._own_pool.shutdown(wait=False)
            self._closed.set()

    def serve_forever(self) -> None:
        """Blocks until :meth:`close` is called from another thread."""
        self._closed.wait()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
