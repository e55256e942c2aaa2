"""What the mixins of an asyncio Connection (``aio_io``, ``aio_dispatch``, ``aio_lifecycle``)
share of its state and methods, declared once for the type checker: the state is set in
``aio_connection.Connection.__init__``, the methods are the Connection's or another mixin's.
Declarations only: nothing here exists at run time but the class."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .core import ConnectionCore, Options
from .errors import WirecallError


class _ConnectionState:
    """The base of the Connection's mixins: what more than one of them uses."""

    core: ConnectionCore
    transport: Optional[asyncio.Transport]
    _loop: asyncio.AbstractEventLoop
    _options: Options
    _closed: "asyncio.Future[Optional[BaseException]]"
    _close_error: Optional[WirecallError]
    _drained: Optional[asyncio.Event]
    _flush_pending: bool
    _paused_reading: bool
    _write_paused: bool
    _write_paused_since: float
    _write_mark: int
    _credit_waiters: Dict[int, List["asyncio.Future[None]"]]

    if TYPE_CHECKING:

        def _handle(self, events: List[Tuple[Any, ...]]) -> None: ...
        def _flush(self) -> None: ...
        def _check_drained(self) -> None: ...
        def _wake_credit(self, key: int) -> None: ...
