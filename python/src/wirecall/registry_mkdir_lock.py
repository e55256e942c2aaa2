"""The second of the registry's two locks (see registry_locks), wirecall's older one: the
directory ``<dir>/services.json.lock`` (proper-lockfile's mkdir lock), with an owner record ``owner-<pid>-<16 hex>.json`` =
``{"pid", "host", "pidNamespace", "since"}`` written inside it right after mkdir
(O_EXCL; the attempt counts only if our record is then the only entry). A waiter
removes a lock whose mtime is older than ``lock_stale`` (10 s), and at once one whose
owner record names a dead pid on this host and pid namespace: claim by unlinking the
record (one waiter wins), then rmdir (fails on a newer holder's record). An empty
directory is removed only by the mtime rule. TypeScript wirecalls before services.lock
take only this lock, so a Python writer must take it too. While a Python holder holds
it longer than half the stale time, a timer refreshes its mtime, as proper-lockfile does.
"""

from __future__ import annotations

import errno
import json
import math
import os
import random
import re
import socket
import threading
import time
from typing import Any, Callable, Dict, Optional

from .registry_errors import RegistryFileError
from .registry_pids import is_pid_alive, pid_namespace

__all__ = ["MkdirLock", "remove_if_abandoned", "LOCK_FILE"]

LOCK_FILE = "services.json.lock"
_OWNER_FILE = re.compile(r"owner-[0-9]+-[0-9a-f]+\.json")
_MAX_PAUSE = 0.05


class MkdirLock:
    """proper-lockfile's directory lock with lock-owner.ts's owner records, held by this process."""

    def __init__(self, lock_path: str, stale: float, timeout: float, warn: Callable[[str], None]) -> None:
        self.lock_path = lock_path
        self.stale = max(stale, 2.0)  # proper-lockfile will not go lower
        self.timeout = timeout
        self.warn = warn
        self.owner: Optional[str] = None
        #: The lock was removed from a holder whose process had died while we waited.
        self.holder_died = False
        self._refresher: Optional[threading.Timer] = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        pause = 0.002
        while True:
            if self._try_take():
                self._schedule_refresh()
                return
            how = remove_if_abandoned(self.lock_path, self.stale)
            if how is not None:
                if how == "dead":
                    self.holder_died = True
                continue  # removed: try again at once
            if self._remove_if_stale_and_empty():
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise RegistryFileError(
                    f"timed out after {round(self.timeout * 1000)} ms waiting for the registry lock "
                    f"{self.lock_path} (held by another process)"
                )
            time.sleep(min(left, pause * (0.5 + random.random())))
            pause = min(pause * 2, _MAX_PAUSE)

    def _try_take(self) -> bool:
        name = f"owner-{os.getpid()}-{os.urandom(8).hex()}.json"
        try:
            os.mkdir(self.lock_path)
        except FileExistsError:
            return False
        except OSError as err:
            raise RegistryFileError(f"cannot take the registry lock {self.lock_path}: {err}") from err
        record = os.path.join(self.lock_path, name)
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "pidNamespace": pid_namespace(), "since": _now_ms()}
        try:
            fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:
            return False  # a waiter removed our empty directory in the instant between
        except OSError as err:
            _quiet(os.rmdir, self.lock_path)  # ours, and empty
            raise RegistryFileError(f"cannot take the registry lock {self.lock_path}: {err}") from err
        try:
            os.write(fd, json.dumps(owner, separators=(",", ":")).encode("utf-8"))
        finally:
            os.close(fd)
        try:
            entries = os.listdir(self.lock_path)
        except OSError:
            entries = []
        if entries != [name]:
            _quiet(os.unlink, record)
            return False
        self.owner = name
        return True

    def _remove_if_stale_and_empty(self) -> bool:
        """proper-lockfile's own rule: a directory not refreshed for ``stale`` is removed (rmdir: only if empty)."""
        try:
            mtime = os.stat(self.lock_path).st_mtime
        except FileNotFoundError:
            return True  # gone meanwhile: try again at once
        except OSError:
            return False
        if mtime >= time.time() - self.stale:
            return False
        try:
            os.rmdir(self.lock_path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False  # not empty: a record, judged by remove_if_abandoned

    def _schedule_refresh(self) -> None:
        if not math.isfinite(self.stale):
            return  # never stale: nothing to keep fresh
        timer = threading.Timer(self.stale / 2, self._refresh)
        timer.daemon = True
        self._refresher = timer
        timer.start()

    def _refresh(self) -> None:
        if self.owner is None:
            return
        try:
            os.utime(self.lock_path, None)
        except OSError:
            return
        self._schedule_refresh()

    def still_ours(self) -> bool:
        return self.owner is not None and os.path.exists(os.path.join(self.lock_path, self.owner))

    def release(self) -> None:
        timer, self._refresher = self._refresher, None
        if timer is not None:
            timer.cancel()
        owner, self.owner = self.owner, None
        if owner is None:
            return
        record = os.path.join(self.lock_path, owner)
        try:
            os.unlink(record)
        except FileNotFoundError:
            self.warn(
                f"registry lock {self.lock_path} was lost while held (taken over as stale); "
                "a concurrent write may have been overwritten"
            )
            return
        except OSError as err:
            self.warn(f"could not release registry lock {self.lock_path}: {err}")
            return
        try:
            os.rmdir(self.lock_path)
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                self.warn(f"could not release registry lock {self.lock_path}: {err}")


def _read_owner(record: str) -> Optional[Dict[str, Any]]:
    try:
        with open(record, encoding="utf-8") as f:
            owner = json.load(f)
    except (OSError, ValueError):
        return None  # half-written, or removed meanwhile: judged by its mtime only
    if not isinstance(owner, dict):
        return None
    pid, host = owner.get("pid"), owner.get("host")
    if isinstance(pid, bool) or not isinstance(pid, int) or not isinstance(host, str):
        return None
    return {"pid": pid, "host": host, "pidNamespace": owner.get("pidNamespace")}


def _is_dead(owner: Optional[Dict[str, Any]]) -> bool:
    """Dead only when its pid is ours to judge and names no process; unknown means alive."""
    if owner is None:
        return False
    if owner["host"] != socket.gethostname() or owner["pidNamespace"] != pid_namespace():
        return False
    return not is_pid_alive(owner["pid"])


def remove_if_abandoned(lock_path: str, stale: float) -> Optional[str]:
    """Removes a held lock whose holder is gone: 'dead' (pid gone here) or 'stale' (mtime); else None."""
    try:
        entries = os.listdir(lock_path)
        mtime = os.stat(lock_path).st_mtime
    except OSError:
        return None
    if len(entries) != 1 or not _OWNER_FILE.fullmatch(entries[0]):
        return None
    record = os.path.join(lock_path, entries[0])
    how: Optional[str] = None
    if mtime < time.time() - stale:
        how = "stale"
    elif _is_dead(_read_owner(record)):
        how = "dead"
    if how is None:
        return None
    try:
        os.unlink(record)  # the claim: only one waiter succeeds
    except OSError:
        return None
    _quiet(os.rmdir, lock_path)  # ENOTEMPTY: a newer holder's record is in it
    return how


def _quiet(fn: Callable[[str], Any], path: str) -> None:
    try:
        fn(path)
    except OSError:
        pass


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
