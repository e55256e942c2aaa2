"""The file-based service registry: ``<dir>/services.json``, shared by every process of this
user (wirecall's TypeScript and Python, dcc-mcp-core's) that points at the same directory.
The twin of src/manager/registry/file-registry.ts: same file, same rows, same locks.

    from wirecall.registry import FileRegistry

    reg = FileRegistry()                          # $WIRECALL_REGISTRY_DIR, $DCC_MCP_REGISTRY_DIR, <tmp>/dcc-mcp-registry
    entry = reg.register("maya", "tcp://127.0.0.1:18812", version="2025.1")
    reg.heartbeat("maya", entry.instance_id)      # every few seconds (or: reg.keep_registered(...))
    reg.list_instances("maya")                    # live rows; entry.endpoint is where to connect
    reg.deregister("maya", entry.instance_id)

Writes are locked read-modify-writes (registry_locks.py: dcc-mcp-core's flock on
``services.lock``, then wirecall's ``services.json.lock``) that replace the file atomically
(temp file, fsync, rename); reads take no lock. Rows we did not write are kept as they are.
Each locked write first removes the temp files of writers that died mid-write. Rows
registered for this process hold a sentinel lock file while registered
(registry_sentinel.py), and every row's sentinel is judged before its heartbeat and pid.

- An empty file (0 bytes or whitespace) is an empty registry, not corruption.
- A corrupt file (not JSON, NUL bytes, top level not an array) is moved aside to
  ``services.json.corrupted-<unix ms>`` with a warning, under the lock and after a second
  look 50 ms later (a non-atomic writer caught mid-write is not corruption).
- A malformed row is left out of every answer (one warning per distinct row) but kept in
  the file on rewrite; prune() leaves it too.
- Rows with schema_version > 1 are read like others, but a file holding one is never
  rewritten (RegistryFileError): its writer knows things we do not.

Durations are seconds. Every method is blocking and thread-safe; from asyncio, call them
through ``asyncio.to_thread`` (or ``loop.run_in_executor``).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, List, Mapping, Optional, Set, Tuple, TypeVar

from .errors import InvalidOption
from .registry_dir import (
    DCC_MCP_REGISTRY_DIR_ENV,
    REGISTRY_DIR_ENV,
    default_registry_dir,
    ensure_registry_dir,
    liveness_of,
    shared_registry_dir,
)
from .registry_errors import ServiceAlreadyRegistered, ShutdownError
from .registry_keep import DEFAULT_HEARTBEAT_INTERVAL, Registration, _positive
from .registry_locks import LOCK_FILE, SERVICES_LOCK_FILE, is_pid_alive, lock_timing_from_env
from .registry_address import EndpointLike, endpoint_of
from .registry_rows import SCHEMA_VERSION, SERVICE_STATUSES, ServiceEntry, key_of, parse_row, row_of
from .registry_timestamps import to_wire_timestamp
from .registry_sentinel import LOCKS_DIR, release_sentinel, remove_dead_sentinel, sentinel_path_for
from .registry_store import _Store

__all__ = [
    "FileRegistry",
    "Registration",
    "ServiceEntry",
    "SERVICE_STATUSES",
    "SCHEMA_VERSION",
    "REGISTRY_FILE",
    "LOCK_FILE",
    "SERVICES_LOCK_FILE",
    "LOCKS_DIR",
    "REGISTRY_DIR_ENV",
    "DCC_MCP_REGISTRY_DIR_ENV",
    "default_registry_dir",
    "shared_registry_dir",
    "endpoint_of",
    "liveness_of",
    "is_pid_alive",
    "sentinel_path_for",
]

REGISTRY_FILE = "services.json"

DEFAULT_STALE_AFTER = 15.0  # 3 x the 5 s heartbeat
DEFAULT_LOCK_STALE = 10.0
DEFAULT_LOCK_TIMEOUT = 30.0  # for services.json.lock; services.lock: $DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS or 2 s
_MIN_LOCK_STALE = 2.0
_CORRUPT_RECHECK = 0.05
_MAX_REMEMBERED_WARNINGS = 1000

T = TypeVar("T")


# ---- the registry -------------------------------------------------------------



class FileRegistry(_Store):
    """The registry in ``directory`` (default: :func:`default_registry_dir`).

    ``stale_after``: rows without a heartbeat for this many seconds are stale (15 = 3 x 5 s).
    ``lock_stale``: a ``services.json.lock`` not refreshed for this long belongs to a crashed
    holder and is taken over (10, minimum 2); a holder on this host whose pid is gone is got
    past at once. ``lock_timeout``: give up waiting for a lock (RegistryFileError); default
    $DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS or 2 s for ``services.lock`` (polled every
    $DCC_MCP_REGISTRY_LOCK_BACKOFF_MS, 10 ms) and 30 s for ``services.json.lock``; when given,
    it is used for both. ``on_warning``: where warnings go (default ``warnings.warn``).
    """

    def __init__(
        self,
        directory: Optional[str] = None,
        *,
        stale_after: float = DEFAULT_STALE_AFTER,
        lock_stale: float = DEFAULT_LOCK_STALE,
        lock_timeout: Optional[float] = None,
        on_warning: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.dir = os.path.abspath(directory if directory is not None else default_registry_dir())
        self.file = os.path.join(self.dir, REGISTRY_FILE)
        self.lock_path = os.path.join(self.dir, LOCK_FILE)
        self.services_lock_path = os.path.join(self.dir, SERVICES_LOCK_FILE)
        self.stale_after = _positive("stale_after", stale_after)
        self.lock_stale = max(_MIN_LOCK_STALE, _positive("lock_stale", lock_stale))
        self.lock_timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else _positive("lock_timeout", lock_timeout)
        services_timeout, self._backoff = lock_timing_from_env()
        self._services_timeout = services_timeout if lock_timeout is None else self.lock_timeout
        self._warn: Callable[[str], None] = on_warning if on_warning is not None else _default_warning
        self._warned: Set[str] = set()
        self._closed = False
        self._in_flight = 0
        self._state = threading.Condition()
        self._dir_ready = False

    # ---- public API ----

    def register(
        self,
        dcc_type: str,
        endpoint: EndpointLike,
        *,
        version: Optional[str] = None,
        scene: Optional[str] = None,
        metadata: Optional[Mapping[str, str]] = None,
        instance_id: Optional[str] = None,
        status: str = "available",
        pid: Optional[int] = None,
        extra: Optional[Mapping[str, Any]] = None,
    ) -> ServiceEntry:
        """Adds a row for an instance listening on ``endpoint`` (``"tcp://127.0.0.1:9000"``,
        ``"unix:/run/x.sock"``, ``"pipe://name"``, or a wirecall.endpoint.Endpoint).

        ServiceAlreadyRegistered if (dcc_type, instance_id) exists and is live. A stale, dead
        or malformed row under the same key is replaced. Rows for this process (the default
        ``pid``) hold a sentinel lock for as long as they are registered. ``extra`` fields are
        written verbatim into the row (dcc-mcp-core's display_name, documents, extras...).
        """
        with self._op():
            entry = self._new_entry(dcc_type, endpoint, version, scene, metadata, instance_id, status, pid, extra)
            key = (entry.dcc_type, entry.instance_id)
            taken = self._take_sentinel(entry)
            try:

                def apply(rows: List[Any]) -> Tuple[ServiceEntry, Optional[List[Any]]]:
                    now = time.time()
                    for row in rows:
                        if key_of(row) != key:
                            continue
                        parsed = parse_row(row)
                        if parsed.entry is not None and self.liveness_of(parsed.entry, now) == "live":
                            raise ServiceAlreadyRegistered(f"{entry.dcc_type} instance {entry.instance_id} is already registered")
                    entry.registered_at = entry.last_heartbeat = now
                    return entry, [r for r in rows if key_of(r) != key] + [row_of(entry)]

                return self._change(apply)
            except BaseException:
                if taken == "new" and entry.sentinel_path is not None:
                    release_sentinel(entry.sentinel_path)
                raise

    def deregister(self, dcc_type: str, instance_id: str) -> bool:
        """Removes the row; False if it was not there. Our sentinel for it, if any, goes too."""
        with self._op():
            key = (dcc_type, instance_id)

            def apply(rows: List[Any]) -> Tuple[bool, Optional[List[Any]]]:
                kept = [r for r in rows if key_of(r) != key]
                return (False, None) if len(kept) == len(rows) else (True, kept)

            removed = self._change(apply)
            # The row is gone (or was never there): our sentinel for it, if any, goes too.
            release_sentinel(sentinel_path_for(self.dir, dcc_type, instance_id))
            return removed

    def heartbeat(self, dcc_type: str, instance_id: str) -> bool:
        """Refreshes last_heartbeat (a stale row becomes live again); False if the row is gone."""
        with self._op():
            return self._patch(dcc_type, instance_id, lambda row: row.__setitem__("last_heartbeat", to_wire_timestamp(time.time())))

    def set_status(self, dcc_type: str, instance_id: str, status: str) -> bool:
        """available | busy | unreachable | shutting_down | booting | stale; False if the row is gone."""
        if status not in SERVICE_STATUSES:
            raise InvalidOption(f"unknown service status {json.dumps(status)}; expected one of {', '.join(SERVICE_STATUSES)}")
        with self._op():
            return self._patch(dcc_type, instance_id, lambda row: row.__setitem__("status", status))

    def prune(self) -> int:
        """Removes stale and dead rows (never malformed ones); returns how many. Removes the
        sentinel files of removed rows inside ``<dir>/locks/`` while they are still free."""
        with self._op():
            sentinels: List[str] = []

            def apply(rows: List[Any]) -> Tuple[int, Optional[List[Any]]]:
                now = time.time()
                sentinels.clear()
                kept = []
                for row in rows:
                    parsed = parse_row(row)
                    if parsed.entry is None or self.liveness_of(parsed.entry, now) == "live":
                        kept.append(row)
                    elif parsed.entry.sentinel_path is not None:
                        sentinels.append(parsed.entry.sentinel_path)
                count = len(rows) - len(kept)
                return (0, None) if count == 0 else (count, kept)

            removed = self._change(apply)
            locks = os.path.join(self.dir, LOCKS_DIR) + os.sep
            for path in sentinels:
                if os.path.abspath(path).startswith(locks):
                    remove_dead_sentinel(path)
            return removed

    def list_instances(self, dcc_type: str) -> List[ServiceEntry]:
        """Live rows of one DCC type (stale and dead rows are never returned)."""
        return [e for e in self.list_all() if e.dcc_type == dcc_type]

    def list_all(self) -> List[ServiceEntry]:
        """Every live row."""
        return [e for e, liveness in self.list_with_liveness() if liveness == "live"]

    def list_with_liveness(self) -> List[Tuple[ServiceEntry, str]]:
        """Every well-formed row with its liveness ('live', 'stale', 'dead'), for tools."""
        with self._op():
            now = time.time()
            return [(e, self.liveness_of(e, now)) for e in self._entries()]

    def get(self, dcc_type: str, instance_id: str) -> Optional[ServiceEntry]:
        """One row, live or not; None if absent."""
        with self._op():
            for e in self._entries():
                if e.dcc_type == dcc_type and e.instance_id == instance_id:
                    return e
            return None

    def liveness_of(self, entry: ServiceEntry, now: Optional[float] = None) -> str:
        return liveness_of(entry, time.time() if now is None else now, self.stale_after)

    def keep_registered(
        self, dcc_type: str, endpoint: EndpointLike, *, interval: float = DEFAULT_HEARTBEAT_INTERVAL, **options: Any
    ) -> "Registration":
        """Registers a row and heartbeats it every ``interval`` seconds on a daemon thread
        until the returned Registration is closed (which deregisters it). ``options`` are
        register()'s. A row that vanished (pruned after a long pause) is registered again."""
        return Registration(self, dcc_type, endpoint, interval=interval, **options)

    def close(self) -> None:
        """Waits for this registry's operations in progress; later calls raise ShutdownError. Nothing is deregistered."""
        with self._state:
            self._closed = True
            while self._in_flight:
                self._state.wait()

    def __enter__(self) -> "FileRegistry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FileRegistry({self.dir!r})"

    # ---- internals ----

    def _op(self) -> "_Op":
        return _Op(self)

    def _ensure_dir(self) -> None:
        if not self._dir_ready:
            ensure_registry_dir(self.dir)
            self._dir_ready = True


class _Op:
    """A public operation: refused after close(), counted so close() can wait for it."""

    def __init__(self, registry: FileRegistry) -> None:
        self.registry = registry

    def __enter__(self) -> None:
        r = self.registry
        with r._state:
            if r._closed:
                raise ShutdownError(f"the registry at {r.dir} is closed")
            r._in_flight += 1
        try:
            r._ensure_dir()
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: Any) -> None:
        r = self.registry
        with r._state:
            r._in_flight -= 1
            r._state.notify_all()


def _default_warning(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)
