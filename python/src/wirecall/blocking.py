"""wirecall without asyncio in sight: blocking clients and servers whose sockets run on a
background thread (one asyncio loop in a daemon thread, shared by the process), for
embedded interpreters (Maya, Blender, Houdini) and plain scripts.

Server handlers run on a worker pool by default, or through the ``executor=`` you pass:
a ``concurrent.futures.Executor``, or any callable ``run(fn, *args) -> result`` that runs
``fn`` on the host's main thread and returns its result
(``maya.utils.executeInMainThreadWithResult``, or a :class:`MainThreadQueue`).

This module is the public face; the work is done in one module per job:

- ``blocking_loop``: the process's loop thread and default worker pool;
- ``blocking_connection``: a blocking Connection, ``connect()``, the blocking face of an
  asyncio connection;
- ``blocking_stream``: a stream this side opened, used from a thread;
- ``blocking_server``: the Server;
- ``blocking_queue``: MainThreadQueue.
"""

from __future__ import annotations

from . import aio
from .blocking_connection import Connection as Connection, connect as connect, _wrap
from .blocking_queue import MainThreadQueue as MainThreadQueue
from .blocking_server import Server as Server
from .blocking_stream import BlockingStream as BlockingStream

__all__ = ["connect", "Server", "Connection", "BlockingStream", "MainThreadQueue"]

# Thread handlers of asyncio connections call back through this face (see aio.set_blocking_face).
aio.set_blocking_face(_wrap)
