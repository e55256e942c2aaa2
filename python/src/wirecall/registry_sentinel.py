"""Sentinel lock files, dcc-mcp-core's proof of life (the twin of src/manager/registry/sentinel.ts).

The process that registers a row creates ``<dir>/locks/<dcc_type>-<instance_id>.lock``,
holds an exclusive lock on it (flock; byte 0 on Windows) for as long as the row is
registered, and names it in the row's ``sentinel_path``. Whoever can take that lock knows
the owner is dead, whatever its heartbeat or pid say (the OS drops the lock of a process
that dies, even by SIGKILL).

Held sentinels are process-wide (path -> fd), not per FileRegistry. A process probing a
sentinel it holds answers 'held' from that table without opening it (a second open would
conflict with our own lock anyway). At exit the files are removed (the OS drops the
locks); after SIGKILL they stay, unlocked, and the next pruner removes them. A forked
child forgets (and closes) its parent's sentinels, so it never keeps the parent's rows
alive nor removes their files.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Dict

from .registry_locks import try_lock, unlock

__all__ = [
    "LOCKS_DIR",
    "sentinel_path_for",
    "holds_sentinel",
    "probe_sentinel",
    "hold_sentinel",
    "release_sentinel",
    "remove_dead_sentinel",
]

LOCKS_DIR = "locks"

_WINDOWS = sys.platform == "win32"
# Never follow a symlink a row points at, never block on a FIFO (0 where they do not exist).
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

_held: Dict[str, int] = {}
_lock = threading.RLock()
_exit_hook = False


def _safe(text: str) -> str:
    # As the TypeScript side (a regex over UTF-16 code units): a character outside the
    # Basic Multilingual Plane is two code units, so two '_'.
    out = []
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch in "._-"):
            out.append(ch)
        else:
            out.append("__" if ord(ch) > 0xFFFF else "_")
    return "".join(out)


def sentinel_path_for(directory: str, dcc_type: str, instance_id: str) -> str:
    """dcc-mcp-core's name for the sentinel of a row; characters outside ``[A-Za-z0-9._-]`` become '_'."""
    return os.path.join(directory, LOCKS_DIR, f"{_safe(dcc_type)}-{_safe(instance_id)}.lock")


def holds_sentinel(path: str) -> bool:
    """True when this process holds the sentinel ``path``."""
    return os.path.abspath(path) in _held


def probe_sentinel(path: str) -> str:
    """Is the owner of this sentinel alive? 'held', 'free' (dead owner), 'missing' or 'unknown'.

    Opens the file, tries the lock, releases it at once.
    """
    if not os.path.isabs(path):
        return "unknown"
    if os.path.abspath(path) in _held:
        return "held"
    try:
        fd = os.open(path, os.O_RDWR | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unknown"
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "unknown"
        if not try_lock(fd):
            return "held"
        unlock(fd)
        return "free"
    except OSError:
        return "unknown"
    finally:
        os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


def hold_sentinel(path: str) -> str:
    """Creates and locks the sentinel for this process: 'new', 'ours' (already held here) or 'busy'."""
    key = os.path.abspath(path)
    with _lock:
        if key in _held:
            return "ours"
        os.makedirs(os.path.dirname(key), mode=0o755, exist_ok=True)
        for _ in range(5):
            fd = os.open(key, os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY, 0o644)
            locked = False
            try:
                locked = try_lock(fd)
                # A pruner unlinks a dead sentinel while it holds its lock: if it did so
                # between our open and our lock, we locked a file with no name. Try again.
                if locked and _same_file(fd, key):
                    _held[key] = fd
                    _install_exit_hook()
                    return "new"
                if locked:
                    unlock(fd)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            if not locked:
                return "busy"
        return "busy"


def release_sentinel(path: str) -> None:
    """Gives up a sentinel this process holds: removes the file, then drops the lock. No-op if not held."""
    key = os.path.abspath(path)
    with _lock:
        fd = _held.pop(key, None)
        if fd is None:
            return
        if not _WINDOWS:
            # First: a prober that finds no file falls back to the pid, still ours.
            try:
                os.unlink(key)
            except OSError:
                pass
        try:
            unlock(fd)
        except OSError:
            pass  # closing releases it too
        os.close(fd)
        if _WINDOWS:  # pragma: no cover - an open file cannot be removed there
            try:
                os.unlink(key)
            except OSError:
                pass


def remove_dead_sentinel(path: str) -> None:
    """Removes a sentinel whose owner is dead, if it is still free: under its lock, and only
    while the path still names the file we locked, so a new owner's file is never removed."""
    if os.path.abspath(path) in _held:
        return
    try:
        fd = os.open(path, os.O_RDWR | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY)
    except OSError:
        return
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode) or not try_lock(fd):
            return
        if _WINDOWS:  # pragma: no cover
            unlock(fd)
            os.close(fd)
            fd = -1
            try:
                os.unlink(path)
            except OSError:
                pass
            return
        if _same_file(fd, path):
            os.unlink(path)
        unlock(fd)
    except OSError:
        pass  # left for the next pruner
    finally:
        if fd >= 0:
            os.close(fd)


def _at_exit() -> None:
    with _lock:
        for key in list(_held):
            release_sentinel(key)


def _install_exit_hook() -> None:
    global _exit_hook
    if not _exit_hook:
        _exit_hook = True
        atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()
    for fd in _held.values():
        try:
            os.close(fd)  # the parent's open file keeps its lock
        except OSError:
            pass
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
