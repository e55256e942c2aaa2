"""Sockets and addresses for the asyncio server: a Unix socket bound safely (private directory,
mode, a stale socket replaced, a live one refused) and the host part of a peer's address."""

from __future__ import annotations

import asyncio
import os
import socket
import stat as st
import sys
import tempfile

from .errors import AddressInUse, ConnectionFailed, NotSupported


def _host_of(address: str) -> str:
    if address in ("unix", "") or address.startswith("unix"):
        return "local"
    if address.startswith("["):
        return address[1 : address.find("]")]
    return address.rsplit(":", 1)[0] if ":" in address else address


async def _bind_unix(path: str, mode: int = 0o600) -> socket.socket:
    """A listening Unix socket at ``path``, created 0600 in a private directory and linked into place.
    A leftover socket nobody answers on is removed; a live one is AddressInUse; other files are never touched."""
    if sys.platform == "win32":  # Python's socket module has no AF_UNIX there
        raise NotSupported(f"unix:{path}: Unix sockets are not available on Windows; use pipe://name or tcp://")
    if os.path.lexists(path):
        if not st.S_ISSOCK(os.lstat(path).st_mode):  # (not into ``mode``: that is the new socket's)
            raise AddressInUse(f"unix:{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(probe, path)
            live = True
        except OSError:
            live = False
        finally:
            probe.close()
        if live:
            raise AddressInUse(f"unix:{path} is already in use")
        os.unlink(path)
    parent = os.path.dirname(path) or "."
    private = tempfile.mkdtemp(prefix=".wirecall-", dir=parent)
    tmp = os.path.join(private, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(tmp)
        os.chmod(tmp, mode)
        sock.listen(511)
        os.rename(tmp, path)
    except OSError as e:
        sock.close()
        raise ConnectionFailed(f"cannot listen on unix:{path}: {e.strerror or e}") from None
    finally:
        try:
            os.rmdir(private)
        except OSError:
            pass
    sock.setblocking(False)
    return sock
