"""The two locks around every read-modify-write of services.json, taken in this order
and released in the reverse one, exactly as the TypeScript registry takes them
(src/manager/registry/file-lock.ts, services-lock.ts, lock-dir-fs.ts, lock-owner.ts):

1. dcc-mcp-core's: an exclusive ``flock`` on ``<dir>/services.lock`` (registry_flock.py);
2. wirecall's older one: the directory ``<dir>/services.json.lock``, proper-lockfile's mkdir
   lock with an owner record inside it (registry_mkdir_lock.py).

Within one process the locks are also ordered by a threading lock per path, so threads
never poll against each other (a second flock from this very process, on another open
file, would conflict with the first).
"""

from __future__ import annotations

import math
import os
import threading
from contextlib import contextmanager
from typing import Callable, Dict, Iterator

from .registry_errors import RegistryFileError
from .registry_flock import (  # noqa: F401  (also read from here)
    BACKOFF_ENV as BACKOFF_ENV,
    DEFAULT_LOCK_BACKOFF_MS as DEFAULT_LOCK_BACKOFF_MS,
    DEFAULT_SERVICES_LOCK_TIMEOUT_MS as DEFAULT_SERVICES_LOCK_TIMEOUT_MS,
    SERVICES_LOCK_FILE as SERVICES_LOCK_FILE,
    TIMEOUT_ENV as TIMEOUT_ENV,
    lock_timing_from_env as lock_timing_from_env,
    take_services_lock as take_services_lock,
    try_lock as try_lock,
    unlock as unlock,
)
from .registry_mkdir_lock import LOCK_FILE as LOCK_FILE, MkdirLock as MkdirLock, remove_if_abandoned as remove_if_abandoned  # noqa: F401
from .registry_pids import is_pid_alive as is_pid_alive, pid_namespace as pid_namespace  # noqa: F401  (also read from here)

__all__ = [
    "try_lock",
    "unlock",
    "is_pid_alive",
    "lock_timing_from_env",
    "registry_locks",
    "take_services_lock",
    "MkdirLock",
    "SERVICES_LOCK_FILE",
    "LOCK_FILE",
]

# ---- in-process ordering ------------------------------------------------------

_guard = threading.Lock()
_path_locks: Dict[str, threading.Lock] = {}
_holding = threading.local()


def _thread_lock(path: str) -> threading.Lock:
    with _guard:
        lock = _path_locks.get(path)
        if lock is None:
            lock = _path_locks[path] = threading.Lock()
        return lock


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.Lock()
    _path_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- both, in order --------------------------------------------------------------


@contextmanager
def registry_locks(
    directory: str,
    *,
    services_timeout: float,
    backoff: float,
    stale: float,
    mkdir_timeout: float,
    warn: Callable[[str], None],
) -> Iterator[MkdirLock]:
    """Holds services.lock, then services.json.lock, in ``directory``; yields the mkdir lock
    (its ``holder_died`` tells whether a dead holder was got past)."""
    services_path = os.path.join(directory, SERVICES_LOCK_FILE)
    lock_path = os.path.join(directory, LOCK_FILE)
    key = os.path.abspath(lock_path)
    mine = _holding.__dict__.setdefault("paths", set())
    if key in mine:
        raise RegistryFileError(f"this thread already holds the registry lock {lock_path} (a registry call inside another)")
    gate = _thread_lock(key)
    # Other threads of this process hold it for one bounded write each.
    patience = services_timeout + mkdir_timeout + 30
    if not gate.acquire(timeout=patience if math.isfinite(patience) else -1):
        raise RegistryFileError(f"timed out waiting for another thread of this process to release {lock_path}")
    mine.add(key)
    try:
        release_services = take_services_lock(services_path, services_timeout, backoff)
        try:
            mkdir = MkdirLock(lock_path, stale, mkdir_timeout, warn)
            mkdir.acquire()
            try:
                yield mkdir
            finally:
                mkdir.release()
        finally:
            try:
                release_services()
            except OSError as err:
                warn(f"could not release registry lock {services_path}: {err}")
    finally:
        mine.discard(key)
        gate.release()
