"""Serving the peer's calls, notifications and streams on an asyncio Connection: find the handler,
run it where handlers run (inline on the loop, as a task, or through the Runner), answer, and pump
what a stream handler yields as the caller's credit allows. A mixin of ``aio_connection.Connection``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Deque, Optional, Tuple

from . import protocol as P
from .aio_state import _ConnectionState
from .core import IncomingCall, StreamState
from .aio_runners import Runner
from .aio_streams import StreamContext, StreamInbox
from .errors import ConnectionClosed, DeadlineExceeded, InvalidArgument, MessageTooLarge, RemoteError
from .handlers import (
    HandlerRegistry,
    BIDI_STREAM,
    CLIENT_STREAM,
    SERVER_STREAM,
    UNARY,
    CallContext,
    Handler,
    error_to_body,
    not_found_body,
)


async def _swallow(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except BaseException:
        pass


def _next(it: Any) -> Tuple[bool, Any, Any]:
    try:
        return False, next(it), None
    except StopIteration as stop:
        return True, None, stop.value


_NEXT_HANDLER = Handler("<next>", _next)

#: Result types that are never awaitable: checked by type, before the slower awaitable checks.
_PLAIN = frozenset([type(None), bool, int, float, str, bytes, list, dict, tuple])


class _Dispatch(_ConnectionState):
    """The incoming side of a Connection (its state lives on the Connection)."""

    # What else it uses of the Connection (declared for the type checker; set in Connection.__init__).
    _handlers: HandlerRegistry
    _runner: Optional[Runner]
    _on_notification: Optional[Callable[[str, Any], Any]]
    _context_connection: Optional[Callable[[Any], Any]]  # the Connection -> what handlers on threads see
    #: Calls whose handler finished on a thread, waiting for the loop to answer them, and
    #: whether the loop has been woken for them (one wake-up for a batch).
    _threads_done: Deque[Tuple[IncomingCall, CallContext, "concurrent.futures.Future[Any]"]]
    _threads_done_woken: bool

    if TYPE_CHECKING:

        def _schedule_flush(self) -> None: ...

    def _ctx_connection(self, handler: Handler) -> Any:
        if self._context_connection is not None and not handler.is_async:
            return self._context_connection(self)
        return self

    def _on_call(self, call: IncomingCall) -> None:
        handler = self._handlers.get(call.method)
        if handler is None or handler.kind != UNARY:
            self.core.send_error(call, 12, not_found_body(call.method, handler.kind if handler else None, UNARY))
            return
        if self._runner is None and not handler.is_async and not handler.wants_ctx:
            self._run_inline(handler, call)
            return
        ctx = self._call_context(handler, call, None)
        args = (call.params, ctx) if handler.wants_ctx else (call.params,)
        if handler.is_async:
            ctx.task = self._loop.create_task(self._run_async(handler, args, call, ctx))
        elif self._runner is None:
            try:
                result = handler.fn(*args)
            except Exception as e:
                self._answer_error(call, ctx, e)
                return
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                ctx.task = self._loop.create_task(self._await_result(result, call, ctx))
            else:
                self._answer(call, ctx, result)
        else:
            submit = getattr(self._runner, "submit", None)
            if submit is None:
                ctx.task = self._loop.create_task(self._run_async(handler, args, call, ctx, self._runner))
            else:  # straight to the executor, the answer through a callback: no Task per call
                future = submit(handler.fn, args)
                ctx.task = future
                future.add_done_callback(functools.partial(self._thread_finished, call, ctx))

    def _call_context(self, handler: Handler, call: IncomingCall, started: Optional[float]) -> CallContext:
        """The call's context (``call.handle``) and its deadline timer; ``started``: the loop time the
        deadline counts from, if not now."""
        ctx = CallContext(self._ctx_connection(handler), call.method, call.params, call.timeout_ms)
        ctx.peer = self.core.peer
        ctx.call = call
        call.handle = ctx
        if call.timeout_ms is not None:
            delay = call.timeout_ms / 1000.0
            if started is not None:
                delay = max(0.0, delay - (self._loop.time() - started))
            ctx.timer = self._loop.call_later(delay, self._expire, call)
        return ctx

    def _run_inline(self, handler: Handler, call: IncomingCall) -> None:
        """A sync handler without a context parameter, run on the loop: it is over before a CANCEL
        could be read or its deadline could fire (the loop waits for it), so no context and no
        timer are made for it unless it returns an awaitable (then they are, as for any call)."""
        started = self._loop.time() if call.timeout_ms is not None else None
        try:
            result = handler.fn(call.params)
        except Exception as e:
            self._answer_error(call, None, e)
            return
        if type(result) in _PLAIN:  # what most handlers return: no awaitable, answer now
            if self.core.send_result(call, result):
                self._schedule_flush()
                if self._drained is not None:
                    self._check_drained()
        elif asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            ctx = self._call_context(handler, call, started)
            ctx.task = self._loop.create_task(self._await_result(result, call, ctx))
        else:
            self._answer(call, None, result)

    def _thread_finished(self, call: IncomingCall, ctx: CallContext, future: "concurrent.futures.Future[Any]") -> None:
        """On the handler's thread: queue the answer for the loop, and wake the loop unless a
        wake-up is already on its way (handlers finishing together cost one wake-up)."""
        self._threads_done.append((call, ctx, future))
        if not self._threads_done_woken:
            self._threads_done_woken = True
            try:
                self._loop.call_soon_threadsafe(self._answer_threads_done)
            except RuntimeError:  # the loop is closed: nobody to answer
                pass

    def _answer_threads_done(self) -> None:
        """On the loop: answer every call whose thread finished, in one write."""
        self._threads_done_woken = False  # before taking: a later finisher wakes the loop again
        done = self._threads_done
        pending = self._flush_pending
        self._flush_pending = True  # the answers below are written once, at the end
        try:
            while done:
                self._thread_done(*done.popleft())
        finally:
            self._flush_pending = pending
        if not pending:
            self._flush()

    def _thread_done(self, call: IncomingCall, ctx: CallContext, future: "concurrent.futures.Future[Any]") -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self._answer_error(call, ctx, error)
        else:
            self._answer(call, ctx, future.result())

    async def _await_result(self, awaitable: Any, call: IncomingCall, ctx: CallContext) -> None:
        try:
            result = await awaitable
        except asyncio.CancelledError:
            return
        except Exception as e:
            self._answer_error(call, ctx, e)
            return
        self._answer(call, ctx, result)

    async def _run_async(self, handler: Handler, args: Tuple[Any, ...], call: IncomingCall, ctx: CallContext, runner: Optional[Runner] = None) -> None:
        try:
            if runner is not None:
                result = await runner(handler, args)
            else:
                result = await handler.fn(*args)
        except asyncio.CancelledError:
            return
        except Exception as e:
            self._answer_error(call, ctx, e)
            return
        self._answer(call, ctx, result)

    def _answer(self, call: IncomingCall, ctx: Optional[CallContext], result: Any) -> None:
        if ctx is not None and ctx.timer is not None:
            ctx.timer.cancel()
            ctx.timer = None
        if self.core.send_result(call, result):
            self._schedule_flush()
            self._check_drained()

    def _answer_error(self, call: IncomingCall, ctx: Optional[CallContext], e: BaseException) -> None:
        if ctx is not None and ctx.timer is not None:
            ctx.timer.cancel()
            ctx.timer = None
        status, body = error_to_body(e, self._options.expose_stack)
        if self.core.send_error(call, status, body):
            self._schedule_flush()
            self._check_drained()

    def _expire(self, call: IncomingCall) -> None:
        ctx = call.handle
        if self.core.expire(call):
            self._schedule_flush()
            if ctx is not None:
                ctx.timer = None
                ctx._abort(DeadlineExceeded(f"deadline of {call.method} passed"))
            self._check_drained()

    def _on_notify(self, method: str, params: Any) -> None:
        if self._on_notification is not None:
            try:
                self._on_notification(method, params)
            except Exception:
                pass
        handler = self._handlers.get(method)
        if handler is None or handler.kind != UNARY:
            return
        ctx = CallContext(self._ctx_connection(handler), method, params, None, True)
        ctx.peer = self.core.peer
        args = (params, ctx) if handler.wants_ctx else (params,)
        if handler.is_async:
            self._loop.create_task(_swallow(handler.fn(*args)))
        elif self._runner is None:
            try:
                result = handler.fn(*args)
                if asyncio.iscoroutine(result):
                    self._loop.create_task(_swallow(result))
            except Exception:
                pass
        else:
            self._loop.create_task(_swallow(self._runner(handler, args)))

    # incoming streams ----------------------------------------------------------

    def _on_stream_open(self, s: StreamState) -> None:
        wanted = {P.SERVER_STREAM: SERVER_STREAM, P.CLIENT_STREAM: CLIENT_STREAM, P.BIDI_STREAM: BIDI_STREAM}[s.kind]
        handler = self._handlers.get(s.method)
        if handler is None or handler.kind != wanted:
            self.core.send_error(s, 12, not_found_body(s.method, handler.kind if handler else None, wanted))
            return
        ctx = StreamContext(self._ctx_connection(handler), s.method, s.params, s.timeout_ms)
        ctx.peer = self.core.peer
        ctx.call = s
        ctx.inbox = StreamInbox(self, s)
        s.handle = ctx
        if s.timeout_ms is not None:
            ctx.timer = self._loop.call_later(s.timeout_ms / 1000.0, self._expire, s)
        ctx.task = self._loop.create_task(self._run_stream(handler, s, ctx))

    async def _run_stream(self, handler: Handler, s: StreamState, ctx: "StreamContext") -> None:
        try:
            if s.kind == P.SERVER_STREAM:
                args: Tuple[Any, ...] = (s.params, ctx) if handler.wants_ctx else (s.params,)
            else:
                args = (ctx.inbox, s.params, ctx)[: handler.args]
            if s.kind == P.CLIENT_STREAM:
                if handler.is_async:
                    result = await handler.fn(*args)
                elif self._runner is not None:
                    if self._context_connection is not None:
                        args = (ctx.inbox.blocking(),) + args[1:]
                    result = await self._runner(handler, args)
                else:
                    result = handler.fn(*args)
                    if asyncio.iscoroutine(result):
                        result = await result
            else:
                if s.kind == P.BIDI_STREAM and not handler.is_async and self._context_connection is not None:
                    args = (ctx.inbox.blocking(),) + args[1:]
                if handler.is_async or self._runner is None or inspect.isgeneratorfunction(handler.fn):
                    produced = handler.fn(*args)  # an async or sync generator: nothing of it runs yet
                else:
                    produced = await self._runner(handler, args)  # a plain function: where handlers run
                result = await self._pump(s, ctx, produced)
        except asyncio.CancelledError:
            return
        except Exception as e:
            ctx.inbox._discard()
            self._answer_error(s, ctx, e)
            return
        ctx.inbox._discard()
        self._answer(s, ctx, result)

    async def _pump(self, s: StreamState, ctx: "StreamContext", produced: Any) -> Any:
        """Sends what a server/bidi handler yields, as credit allows; returns its return value."""
        if hasattr(produced, "__anext__"):
            agen = produced
            result = None
            try:
                while True:
                    await self._wait_credit(s)
                    try:
                        value = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    self._send_stream_message(s, value)
                return result
            finally:
                await agen.aclose()
        if hasattr(produced, "__next__") or hasattr(produced, "__iter__"):
            it = iter(produced)
            result = None
            try:
                while True:
                    await self._wait_credit(s)
                    if self._runner is not None:
                        done, value, ret = await self._runner(_NEXT_HANDLER, (it,))
                    else:
                        done, value, ret = _next(it)
                    if done:
                        result = ret
                        break
                    self._send_stream_message(s, value)
                return result
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    close()
        raise TypeError(f"handler of {s.method} must return an iterable or an async iterable (write it as a generator)")

    def _send_stream_message(self, s: StreamState, value: Any) -> None:
        try:
            self.core.stream_send(s, value)
        except MessageTooLarge as e:
            raise RemoteError(8, f"a message of {s.method} is {e.size} bytes, over the caller's limit of {e.limit}", remote_name="FrameTooLarge") from None
        except InvalidArgument as e:
            raise RemoteError(13, f"a message of {s.method} cannot be encoded: {e}", remote_name="EncodeError") from None
        self._schedule_flush()

    def _credit_changed(self, key: int) -> "asyncio.Future[None]":
        """A future set when the credit of stream ``key`` (or the socket's room) may have grown."""
        f: "asyncio.Future[None]" = self._loop.create_future()
        self._credit_waiters.setdefault(key, []).append(f)
        return f

    def _wake_credit(self, key: int) -> None:
        for f in self._credit_waiters.pop(key, ()):
            if not f.done():
                f.set_result(None)

    async def _wait_credit(self, s: StreamState) -> None:
        while not self.core.can_send(s) or self._write_paused:
            if self.core.state == "closed":
                raise ConnectionClosed(self.core._closed_message())
            await self._credit_changed(id(s))
