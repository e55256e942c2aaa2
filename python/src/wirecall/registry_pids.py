"""Processes, for the registry: is a pid alive on this machine (never by signalling a process
group, nor by os.kill on Windows, where it would terminate it), and our pid namespace on
Linux (written into rows as the TypeScript side does)."""

from __future__ import annotations

import os
import sys
from typing import Any, Optional

__all__ = ["is_pid_alive", "pid_namespace"]

_WINDOWS = sys.platform == "win32"


def is_pid_alive(pid: int) -> bool:
    """Does a process with this pid exist on this machine? (exists but not ours counts as alive)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False  # 0 and negative pids address process groups: never probe them
    if _WINDOWS:  # pragma: no cover - os.kill(pid, 0) would *terminate* the process there
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True


def _windows_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return bool(kernel32.GetLastError() == 5)  # ERROR_ACCESS_DENIED: exists, not ours
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return bool(code.value == 259)  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


_namespace: Optional[str] = None
_namespace_read = False


def pid_namespace() -> Optional[str]:
    """Linux's ``pid:[inode]`` of our pid namespace (what the TypeScript side writes); None elsewhere."""
    global _namespace, _namespace_read
    if not _namespace_read:
        try:
            _namespace = os.readlink("/proc/self/ns/pid") if sys.platform.startswith("linux") else None
        except OSError:
            _namespace = None
        _namespace_read = True
    return _namespace


def _after_fork_in_child() -> None:
    global _namespace_read
    _namespace_read = False  # a child may be in another pid namespace: read it again


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
