"""A stream this side opened, used from a thread (``BlockingStream``), and the opening of one
on the loop."""

from __future__ import annotations

from typing import Any, Callable, Optional

from . import aio
from .blocking_loop import _LoopRef


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
