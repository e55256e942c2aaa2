"""The first of the registry's two locks (see registry_locks), dcc-mcp-core's: an exclusive
``flock`` on ``<dir>/services.lock`` (Windows: ``msvcrt.locking`` on byte 0, length 1,
i.e. LockFileEx on the first byte). Polled
with a non-blocking try every ``DCC_MCP_REGISTRY_LOCK_BACKOFF_MS`` (10 ms) up to
``DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS`` (2 s), then RegistryFileError. The OS drops it
when its holder dies, so there is no staleness rule.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import time
from typing import Callable, Dict, Mapping, Optional, Tuple

from .registry_errors import RegistryFileError

__all__ = ["try_lock", "unlock", "lock_timing_from_env", "take_services_lock", "SERVICES_LOCK_FILE"]

SERVICES_LOCK_FILE = "services.lock"

DEFAULT_LOCK_BACKOFF_MS = 10
DEFAULT_SERVICES_LOCK_TIMEOUT_MS = 2000
BACKOFF_ENV = "DCC_MCP_REGISTRY_LOCK_BACKOFF_MS"
TIMEOUT_ENV = "DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS"

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Exclusive lock on byte 0 (length 1) without waiting: False if another open file holds it."""
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EDEADLK, getattr(errno, "EDEADLOCK", errno.EDEADLK)):
                return False
            raise

    def unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Exclusive flock(2) without waiting: False if another open file holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as err:
            if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return False
            raise

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# ---- timing and taking it ----------------------------------------------------


def _positive_int(text: Optional[str]) -> Optional[int]:
    if text is None or not re.fullmatch(r"[ \t\n\r\f\v]*[0-9]+[ \t\n\r\f\v]*", text):
        return None
    n = int(text)
    return n if 0 < n <= 2**53 - 1 else None


def lock_timing_from_env(env: Optional[Dict[str, str]] = None) -> Tuple[float, float]:
    """(timeout, backoff) in seconds from dcc-mcp-core's variables (unusable values keep the defaults)."""
    source: Mapping[str, str] = os.environ if env is None else env
    timeout = _positive_int(source.get(TIMEOUT_ENV)) or DEFAULT_SERVICES_LOCK_TIMEOUT_MS
    backoff = _positive_int(source.get(BACKOFF_ENV)) or DEFAULT_LOCK_BACKOFF_MS
    return timeout / 1000.0, backoff / 1000.0


def take_services_lock(path: str, timeout: float, backoff: float) -> Callable[[], None]:
    """Takes the flock on ``path``, polling; returns its release."""
    try:
        # "a+" like dcc-mcp-core's Python helper: created if missing, never truncated.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as err:
        raise RegistryFileError(f"cannot open the registry lock {path}: {err}") from err
    deadline = time.monotonic() + timeout
    try:
        while not try_lock(fd):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RegistryFileError(
                    f"timed out after {round(timeout * 1000)} ms waiting for the registry lock {path} "
                    "(held by another process)"
                )
            time.sleep(min(left, backoff))
    except RegistryFileError:
        os.close(fd)
        raise
    except OSError as err:
        os.close(fd)
        raise RegistryFileError(f"cannot take the registry lock {path}: {err}") from err

    def release() -> None:
        try:
            unlock(fd)
        finally:
            os.close(fd)  # releases it in any case

    return release
