"""How the asyncio side runs handlers: the Runner type, ``executor_runner`` (sync handlers handed to
an Executor or to a host's "run this on the main thread" function), and the blocking face that
handlers on threads see as ``ctx.connection`` (set by ``wirecall.blocking``, so that the asyncio
modules never import it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, Awaitable, Callable, Optional, Tuple

from .errors import InvalidOption
from .handlers import Handler

__all__ = ["Runner", "executor_runner", "set_blocking_face", "blocking_face"]

Runner = Callable[[Handler, Tuple[Any, ...]], Awaitable[Any]]
"""How a server runs a *sync* handler: ``await runner(handler, args)``. None runs it inline on the loop."""


def executor_runner(executor: Any, loop: Optional[asyncio.AbstractEventLoop] = None) -> Runner:
    """A Runner that hands sync handlers to ``executor``: a concurrent.futures.Executor, or a callable
    ``run(fn, *args) -> result`` that runs ``fn`` somewhere else and blocks until it is done (what
    Maya's ``maya.utils.executeInMainThreadWithResult`` is). A callable is called from a worker
    thread of its own, so the event loop never blocks on it."""
    if isinstance(executor, concurrent.futures.Executor):
        pool: concurrent.futures.Executor = executor
        return _ExecutorRunner(lambda fn, args: pool.submit(_call_with, fn, args))
    if not callable(executor):
        raise InvalidOption("executor must be a concurrent.futures.Executor or a callable run(fn, *args)")
    run = executor
    through = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="wirecall-dispatch")
    return _ExecutorRunner(lambda fn, args: through.submit(_call_through, run, fn, args))


_Submit = Callable[[Callable[..., Any], Tuple[Any, ...]], "concurrent.futures.Future[Any]"]


class _ExecutorRunner:
    """A Runner (``await runner(handler, args)``) with ``submit(fn, args)``, which returns a
    concurrent.futures.Future: what the dispatcher uses, answering through a callback (no Task per call)."""

    __slots__ = ("submit",)

    def __init__(self, submit: _Submit) -> None:
        self.submit = submit

    async def __call__(self, handler: Handler, args: Tuple[Any, ...]) -> Any:
        return await asyncio.wrap_future(self.submit(handler.fn, args))


def _call_with(fn: Callable[..., Any], args: Tuple[Any, ...]) -> Any:
    return fn(*args)


def _call_through(executor: Callable[..., Any], fn: Callable[..., Any], args: Tuple[Any, ...]) -> Any:
    return executor(fn, *args)


#: The blocking face that handlers running on threads see as ``ctx.connection``; set by
#: ``wirecall.blocking`` when it is imported (the package's ``__init__`` does), so that
#: the asyncio modules never import it (``blocking`` is built on them).
_blocking_face: Optional[Callable[[Any], Any]] = None


def set_blocking_face(face: Callable[[Any], Any]) -> None:
    """Called by wirecall.blocking: how a thread handler's ``ctx.connection`` is made."""
    global _blocking_face
    _blocking_face = face


def blocking_face() -> Optional[Callable[[Any], Any]]:
    """The face set by :func:`set_blocking_face`, if any."""
    return _blocking_face
