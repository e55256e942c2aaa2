"""Where the service registry lives and how a row's liveness is judged: the directory
(``$WIRECALL_REGISTRY_DIR``, ``$DCC_MCP_REGISTRY_DIR``, dcc-mcp-core's shared default, checked
to be safe) and ``liveness_of`` (the twin of liveness.ts: sentinel, heartbeat, pid)."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from typing import Callable, Mapping, Optional

from .registry_errors import RegistryFileError
from .registry_locks import is_pid_alive
from .registry_address import locality
from .registry_rows import ServiceEntry
from .registry_sentinel import probe_sentinel

REGISTRY_DIR_ENV = "WIRECALL_REGISTRY_DIR"
DCC_MCP_REGISTRY_DIR_ENV = "DCC_MCP_REGISTRY_DIR"
DCC_MCP_REGISTRY_DIR_NAME = "dcc-mcp-registry"


def shared_registry_dir() -> str:
    """dcc-mcp-core's default: ``<tempfile.gettempdir()>/dcc-mcp-registry``."""
    return os.path.join(tempfile.gettempdir(), DCC_MCP_REGISTRY_DIR_NAME)


def default_registry_dir(env: Optional[Mapping[str, str]] = None) -> str:
    """$WIRECALL_REGISTRY_DIR, else $DCC_MCP_REGISTRY_DIR, else ``<tmp>/dcc-mcp-registry`` (empty counts as unset)."""
    env = os.environ if env is None else env
    for name in (REGISTRY_DIR_ENV, DCC_MCP_REGISTRY_DIR_ENV):
        value = env.get(name)
        if value:
            return os.path.abspath(value)
    return shared_registry_dir()


def ensure_registry_dir(directory: str) -> None:
    """Creates ``directory`` (0700) if missing; the built-in default is also checked to be safe:
    a real directory, ours, not writable by group/other (the registry tells clients where to
    connect, so a directory others can write would let them redirect our calls)."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as err:
        raise RegistryFileError(f"cannot create the registry directory {directory}: {err}") from err
    if sys.platform == "win32" or os.path.abspath(directory) != shared_registry_dir():
        return

    def unsafe(why: str) -> None:
        raise RegistryFileError(f"unsafe registry directory {directory}: {why}; remove it or set {REGISTRY_DIR_ENV}")

    st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode):
        unsafe("it is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        unsafe("it is not a directory")
    if st.st_uid != os.getuid():  # type: ignore[attr-defined,unused-ignore]
        unsafe(f"it is owned by uid {st.st_uid}, not by us")
    if st.st_mode & 0o022:
        unsafe(f"mode {stat.S_IMODE(st.st_mode):o} lets group/other write to it")


# ---- liveness -----------------------------------------------------------------


def liveness_of(entry: ServiceEntry, now: float, stale_after: float, probe: Optional[Callable[[str], str]] = probe_sentinel) -> str:
    """'live', 'stale' or 'dead' (the twin of liveness.ts).

    For rows on this machine that name a sentinel, the sentinel speaks first: free -> dead,
    held -> alive whatever the pid says (pids are reused); missing or not judgeable -> the
    pid decides. Stale: no heartbeat for ``stale_after`` seconds, whatever the sentinel says.
    Sentinels and pids are judged only for rows on this machine.
    """
    local = locality(entry) < 2
    sentinel = probe(entry.sentinel_path) if probe is not None and entry.sentinel_path is not None and local else "unknown"
    if sentinel == "free":
        return "dead"
    if now - entry.last_heartbeat > stale_after:
        return "stale"
    if sentinel == "held":
        return "live"
    if entry.pid is not None and local and not is_pid_alive(entry.pid):
        return "dead"
    return "live"
