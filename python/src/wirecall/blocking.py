"""wirecall without asyncio in sight: blocking clients and servers whose sockets run on a
background thread (one asyncio loop in a daemon thread, shared by the process), for
embedded interpreters (Maya, Blender, Houdini) and plain scripts.

Server handlers run on a worker pool by default, or through the ``executor=`` you pass:
a ``concurrent.futures.Executor``, or any callable ``run(fn, *args) -> result`` that runs
``fn`` on the host's main thread and returns its result
(``maya.utils.executeInMainThreadWithResult``, or a :class:`MainThreadQueue`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from typing import Any, Callable, Coroutine, Dict, List, Optional, Tuple, TypeVar

from . import aio
from .core import PeerInfo

__all__ = ["connect", "Server", "Connection", "BlockingStream", "MainThreadQueue"]

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


def _wrap(conn: aio.Connection) -> "Connection":
    """The blocking face of ``conn``, for handlers on other threads (its loop may be any loop)."""
    wrapper = conn._blocking_wrapper
    if not isinstance(wrapper, Connection):
        lt: Optional[_LoopRef] = _instance
        if lt is None or lt.loop is not conn._loop:
            lt = _LoopRef(conn._loop, conn._loop_thread)
        wrapper = Connection(conn, lt)
        conn._blocking_wrapper = wrapper
    return wrapper


class _Reply:
    """The answer to one blocking call: a lock held until the loop settles it (lighter than a
    concurrent.futures.Future, whose Condition costs more on both threads)."""

    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def settle(self, value: Any, error: Optional[BaseException]) -> None:
        self.value = value
        self.error = error
        self.done.release()


class Connection:
    """A blocking connection: every method may be called from any thread but the loop's."""

    def __init__(self, conn: aio.Connection, lt: _LoopRef) -> None:
        self._conn = conn
        self._lt = lt

    @property
    def aio(self) -> aio.Connection:
        """The asyncio connection underneath (use it only on the wirecall loop thread)."""
        return self._conn

    @property
    def peer(self) -> Optional[PeerInfo]:
        return self._conn.peer

    @property
    def state(self) -> str:
        return self._conn.state

    @property
    def is_open(self) -> bool:
        return self._conn.is_open

    def register(self, method: str, fn: Optional[Callable[..., Any]] = None) -> Any:
        """Serves ``method`` on this connection (the peer may call it)."""
        return self._conn.register(method, fn)

    def register_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._conn.register_stream(method, fn)

    def register_client_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._conn.register_client_stream(method, fn)

    def register_bidi_stream(self, method: str, fn: Callable[..., Any]) -> None:
        self._conn.register_bidi_stream(method, fn)

    def call(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> Any:
        """Calls ``method`` on the peer and blocks for its result (see aio.Connection.call).
        Interrupted (KeyboardInterrupt), the call is cancelled on the peer."""
        lt = self._lt
        if threading.current_thread() is lt.thread:
            raise RuntimeError("a blocking wirecall call on the wirecall loop thread would deadlock; use wirecall.aio in async code")
        reply = _Reply()
        conn = self._conn
        started: List[Any] = []

        def start() -> None:
            try:
                started.append(conn._start_call(method, params, timeout, None, reply.settle))
            except BaseException as e:
                reply.settle(None, e)

        lt.loop.call_soon_threadsafe(start)
        try:
            reply.done.acquire()
        except BaseException:  # e.g. KeyboardInterrupt: the call is cancelled on the peer

            def give_up() -> None:
                if started:
                    conn._forget(started[0])

            lt.loop.call_soon_threadsafe(give_up)
            raise
        if reply.error is not None:
            raise reply.error
        return reply.value

    def call_async(self, method: str, params: Any = None, *, timeout: Optional[float] = None) -> "concurrent.futures.Future[Any]":
        """Starts a call; returns a Future. ``future.cancel()`` cancels the call on the peer."""
        return self._lt.submit(self._conn.call(method, params, timeout=timeout))

    def notify(self, method: str, params: Any = None) -> None:
        self._lt.run(_notify(self._conn, method, params))

    def ping(self, timeout: float = 10.0) -> float:
        """Round trip in seconds."""
        return self._lt.run(self._conn.ping(timeout))

    def stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "BlockingStream":
        """A server stream: ``for message in conn.stream("count", {"n": 5})``."""
        return BlockingStream(self._lt, self._lt.run(_open(self._conn.stream, method, params, timeout, window)))

    def client_stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "BlockingStream":
        return BlockingStream(self._lt, self._lt.run(_open(self._conn.client_stream, method, params, timeout, window)))

    def bidi_stream(self, method: str, params: Any = None, *, timeout: Optional[float] = None, window: Optional[Tuple[int, int]] = None) -> "BlockingStream":
        return BlockingStream(self._lt, self._lt.run(_open(self._conn.bidi_stream, method, params, timeout, window)))

    def close(self, drain_timeout: Optional[float] = None) -> None:
        """Graceful close with drain (see aio.Connection.close)."""
        self._lt.run(self._conn.close(drain_timeout))

    def abort(self) -> None:
        self._lt.loop.call_soon_threadsafe(self._conn.abort)

    def wait_closed(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return self._lt.run(self._conn.wait_closed(), timeout)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


async def _notify(conn: aio.Connection, method: str, params: Any) -> None:
    conn.notify(method, params)


async def _open(opener: Callable[..., Any], method: str, params: Any, timeout: Optional[float], window: Any) -> Any:
    return opener(method, params, timeout=timeout, window=window)


class BlockingStream:
    """A stream this side opened, used from a thread: iterate it, ``write``/``end``, ``result()``, ``cancel()``."""

    def __init__(self, lt: _LoopRef, stream: aio.OutgoingStream) -> None:
        self._lt = lt
        self._s = stream

    def __iter__(self) -> "BlockingStream":
        return self

    def __next__(self) -> Any:
        try:
            return self._lt.run(self._s.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def write(self, value: Any) -> None:
        self._lt.run(self._s.write(value))

    def end(self) -> None:
        self._lt.loop.call_soon_threadsafe(self._s.end)

    def result(self, timeout: Optional[float] = None) -> Any:
        return self._lt.run(self._s.result(), timeout)

    def cancel(self) -> None:
        self._lt.loop.call_soon_threadsafe(self._s.cancel)

    def close(self) -> None:
        self.cancel()

    def __enter__(self) -> "BlockingStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()


def connect(
    endpoint: str,
    *,
    handlers: Optional[Dict[str, Callable[..., Any]]] = None,
    executor: Any = None,
    connect_timeout: float = 10.0,
    **options: Any,
) -> Connection:
    """Connects (blocking) and returns a :class:`Connection`. ``handlers`` are methods the
    peer may call back; they run on a worker pool, or through ``executor``."""
    lt = _loop_thread()
    runner = aio.executor_runner(executor if executor is not None else _default_pool())
    conn = lt.run(aio.connect(endpoint, handlers=handlers, connect_timeout=connect_timeout, runner=runner, _context_connection=_wrap, **options))
    return _wrap(conn)


_pool: Optional[concurrent.futures.ThreadPoolExecutor] = None


def _default_pool() -> concurrent.futures.ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="wirecall-handler")
        return _pool


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


# Thread handlers of asyncio connections call back through this face (see aio.set_blocking_face).
aio.set_blocking_face(_wrap)
