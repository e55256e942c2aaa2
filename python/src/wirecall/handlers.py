"""Handlers, the call context, and errors ⇄ ERROR bodies (PROTOCOL.md section 7)."""

from __future__ import annotations

import inspect
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import DeadlineExceeded, InvalidArgument, InvalidOption, RemoteError, WirecallError
from .protocol import error_body
from .status import Status

__all__ = ["Handler", "HandlerRegistry", "CallContext", "error_from_body", "error_to_body"]

UNARY = "unary"
SERVER_STREAM = "server-stream"
CLIENT_STREAM = "client-stream"
BIDI_STREAM = "bidi-stream"
_OPENERS = {UNARY: "call()", SERVER_STREAM: "stream()", CLIENT_STREAM: "clientStream()", BIDI_STREAM: "bidiStream()"}


def _positional_count(fn: Callable[..., Any]) -> int:
    """How many positional arguments ``fn`` takes (a large number for ``*args``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    n = 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return 99
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            n += 1
    return n


class Handler:
    """A registered method. ``fn(params)`` or ``fn(params, ctx)``, sync or async."""

    __slots__ = ("method", "fn", "kind", "wants_ctx", "is_async", "args")

    def __init__(self, method: str, fn: Callable[..., Any], kind: str = UNARY) -> None:
        if not callable(fn):
            raise InvalidOption(f"handler of {method} is not callable")
        self.method = method
        self.fn = fn
        self.kind = kind
        # Streams take (messages, params, ctx) for client/bidi and (params, ctx) for server streams.
        base = 1 if kind in (UNARY, SERVER_STREAM) else 2
        n = _positional_count(fn)
        self.args = min(max(n, 0), base + 1)
        self.wants_ctx = n > base
        target = fn
        if not inspect.isfunction(target) and not inspect.ismethod(target) and hasattr(target, "__call__"):
            target = target.__call__
        self.is_async = inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


class HandlerRegistry:
    """Method name → Handler."""

    def __init__(self) -> None:
        self._handlers: Dict[str, Handler] = {}

    def register(self, method: str, fn: Callable[..., Any], kind: str = UNARY) -> None:
        if not isinstance(method, str) or method == "":
            raise InvalidOption("a method name must be a non-empty string")
        self._handlers[method] = Handler(method, fn, kind)

    def unregister(self, method: str) -> None:
        self._handlers.pop(method, None)

    def get(self, method: str) -> Optional[Handler]:
        return self._handlers.get(method)

    def methods(self) -> List[str]:
        return sorted(self._handlers)

    def update(self, handlers: Optional[Dict[str, Callable[..., Any]]]) -> None:
        if handlers:
            for name, fn in handlers.items():
                self.register(name, fn)

    def copy(self) -> "HandlerRegistry":
        r = HandlerRegistry()
        r._handlers = dict(self._handlers)
        return r


def not_found_body(method: str, found: Optional[str], wanted: str) -> Dict[str, Any]:
    if found is None:
        return {"name": "MethodNotFound", "message": f"method not found: {method}"}
    return {"name": "MethodNotFound", "message": f"{method} is a {found} method, not a {wanted} one; open it with {_OPENERS[found]}"}


class CallContext:
    """What a handler learns about its call.

    - ``method``, ``params``, ``peer`` (a PeerInfo), ``is_notification``;
    - ``deadline``: ``time.time()`` seconds at which the caller gives up, or None;
    - ``cancelled``: True once the caller cancelled, the deadline passed or the
      connection ended (for handlers on threads; an async handler's task is cancelled too);
    - ``connection``: the connection the call came on, to call the caller back.
    """

    __slots__ = ("method", "params", "peer", "connection", "deadline", "is_notification", "_event", "_reason", "task", "timer", "call")

    def __init__(self, connection: Any, method: str, params: Any, timeout_ms: Optional[int], is_notification: bool = False) -> None:
        self.connection = connection
        self.method = method
        self.params = params
        self.peer = getattr(connection, "peer", None)
        self.deadline = None if timeout_ms is None else time.time() + timeout_ms / 1000.0
        self.is_notification = is_notification
        self._event: Optional[threading.Event] = None
        self._reason: Optional[BaseException] = None
        self.task: Any = None
        self.timer: Any = None
        self.call: Any = None

    @property
    def cancelled(self) -> bool:
        return self._reason is not None

    @property
    def cancel_reason(self) -> Optional[BaseException]:
        return self._reason

    def check(self) -> None:
        """Raises the reason (CallCancelled, DeadlineExceeded, ConnectionClosed…) once the call is off."""
        if self._reason is not None:
            raise self._reason

    def wait_cancelled(self, timeout: Optional[float] = None) -> bool:
        """Blocks (a thread handler) until the call is off or ``timeout`` seconds pass; True if off."""
        if self._reason is not None:
            return True
        if self._event is None:
            self._event = threading.Event()
            if self._reason is not None:
                return True
        return self._event.wait(timeout)

    def _abort(self, reason: BaseException) -> None:
        if self._reason is not None:
            return
        self._reason = reason
        if self._event is not None:
            self._event.set()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        task = self.task
        if task is not None and not task.done():
            task.cancel()


def error_from_body(status: int, body: Dict[str, Any]) -> WirecallError:
    """An ERROR from the peer, as the exception the caller sees."""
    if status == Status.DEADLINE_EXCEEDED:
        return DeadlineExceeded(body["message"])
    return RemoteError(status, body["message"], remote_name=body["name"], remote_code=body.get("code"), data=body.get("data"), remote_stack=body.get("stack"))


def error_to_body(err: BaseException, expose_stack: bool) -> Tuple[int, Dict[str, Any]]:
    """A handler's exception, as the status and body of an ERROR (PROTOCOL.md 7.3)."""
    stack = "".join(traceback.format_exception(type(err), err, err.__traceback__)) if expose_stack else None
    if isinstance(err, RemoteError):
        return err.status, error_body(err.remote_name, err.message, err.remote_code, err.data, stack)
    if isinstance(err, InvalidArgument):
        return Status.INVALID_ARGUMENT, error_body("InvalidArgument", str(err), "ERR_INVALID_ARGUMENT", None, stack)
    code = getattr(err, "code", None)
    data = getattr(err, "data", None)
    name = type(err).__name__
    return Status.METHOD_ERROR, error_body(name, str(err), code if isinstance(code, str) else None, data, stack)
