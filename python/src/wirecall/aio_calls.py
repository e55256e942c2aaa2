"""An outgoing call's bookkeeping on the asyncio side: the timeout in milliseconds for the wire
and the waiter that the answer, the deadline or the end of the connection settles."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Callable, Optional

from . import protocol as P
from .errors import InvalidOption


def _timeout_ms(timeout: Optional[float]) -> Optional[int]:
    if timeout is None or timeout == math.inf:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0 or timeout != timeout:
        raise InvalidOption(f"timeout must be a number of seconds >= 0, got {timeout!r}")
    return min(math.ceil(timeout * 1000), P.MAX_UINT32)


class _Waiter:
    """An outgoing call: its future (asyncio callers) or callback (blocking callers), deadline timer and method."""

    __slots__ = ("future", "timer", "method", "id", "callback")

    def __init__(self, future: "Optional[asyncio.Future[Any]]", method: str, callback: Optional[Callable[[Any, Optional[BaseException]], None]] = None) -> None:
        self.future = future
        self.timer: Optional[asyncio.TimerHandle] = None
        self.method = method
        self.id = 0
        self.callback = callback

    def settle(self, value: Any, error: Optional[BaseException]) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        cb = self.callback
        if cb is not None:
            self.callback = None
            cb(value, error)
            return
        f = self.future
        if f is not None and not f.done():
            if error is not None:
                f.set_exception(error)
            else:
                f.set_result(value)

