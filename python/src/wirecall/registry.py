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
import stat
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple, TypeVar

from .errors import InvalidOption
from .registry_errors import RegistryFileError, SerializationError, ServiceAlreadyRegistered, ShutdownError
from .registry_file import FileState, quarantine, read_registry_file, remove_dead_temp_files, write_registry_file
from .registry_locks import LOCK_FILE, SERVICES_LOCK_FILE, is_pid_alive, lock_timing_from_env, registry_locks
from .registry_rows import (
    SCHEMA_VERSION,
    SERVICE_STATUSES,
    EndpointLike,
    ServiceEntry,
    address_of,
    endpoint_of,
    key_of,
    locality,
    parse_row,
    row_of,
    schema_version_of,
    to_wire_timestamp,
    unknown_fields,
)
from .registry_sentinel import (
    LOCKS_DIR,
    hold_sentinel,
    probe_sentinel,
    release_sentinel,
    remove_dead_sentinel,
    sentinel_path_for,
)

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
REGISTRY_DIR_ENV = "WIRECALL_REGISTRY_DIR"
DCC_MCP_REGISTRY_DIR_ENV = "DCC_MCP_REGISTRY_DIR"
DCC_MCP_REGISTRY_DIR_NAME = "dcc-mcp-registry"

DEFAULT_STALE_AFTER = 15.0  # 3 x the 5 s heartbeat
DEFAULT_LOCK_STALE = 10.0
DEFAULT_LOCK_TIMEOUT = 30.0  # for services.json.lock; services.lock: $DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS or 2 s
DEFAULT_HEARTBEAT_INTERVAL = 5.0
_MIN_LOCK_STALE = 2.0
_CORRUPT_RECHECK = 0.05
_MAX_REMEMBERED_WARNINGS = 1000

T = TypeVar("T")


# ---- the directory ------------------------------------------------------------


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


# ---- the registry -------------------------------------------------------------


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidOption(f"{name} must be a positive number of seconds (or math.inf), got {value!r}")
    return float(value)


def _json_object(what: str, value: Any) -> Dict[str, Any]:
    """A JSON-safe copy (the caller's object may change later); SerializationError if it cannot be JSON."""
    try:
        copied = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise SerializationError(f"{what} cannot be written as JSON: {err}") from err
    if not isinstance(copied, dict):
        raise SerializationError(f"{what} must be a JSON object")
    return copied


class FileRegistry:
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
        self._warn = on_warning if on_warning is not None else _default_warning
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
        metadata: Optional[Mapping[str, Any]] = None,
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

    def _new_entry(
        self,
        dcc_type: Any,
        endpoint: EndpointLike,
        version: Any,
        scene: Any,
        metadata: Any,
        instance_id: Any,
        status: Any,
        pid: Any,
        extra: Any,
    ) -> ServiceEntry:
        if not isinstance(dcc_type, str) or dcc_type.strip() == "":
            raise InvalidOption("dcc_type must be a non-empty string")
        if instance_id is None:
            instance_id = str(uuid.uuid4())
        if not isinstance(instance_id, str) or instance_id.strip() == "":
            raise InvalidOption("instance_id must be a non-empty string")
        if status not in SERVICE_STATUSES:
            raise InvalidOption(f"unknown service status {json.dumps(status)}")
        if pid is None:
            pid = os.getpid()
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0 or pid > 2**53 - 1:
            raise InvalidOption(f"pid must be a positive integer, got {pid!r}")
        if version is not None and not isinstance(version, str):
            raise InvalidOption("version must be a string or None")
        if scene is not None and not isinstance(scene, str):
            raise InvalidOption("scene must be a string or None")
        host, port, transport_address = address_of(endpoint)
        if transport_address["type"] == "tcp" and port == 0:
            raise InvalidOption("cannot register TCP port 0: register the port the server actually listens on")
        return ServiceEntry(
            dcc_type=dcc_type,
            instance_id=instance_id,
            host=host,
            port=port,
            transport_address=transport_address,
            version=version,
            scene=scene,
            pid=pid,
            metadata=_json_object("metadata", {} if metadata is None else metadata),
            status=status,
            schema_version=SCHEMA_VERSION,
            extra=unknown_fields(_json_object("extra", {} if extra is None else extra)),
        )

    def _take_sentinel(self, entry: ServiceEntry) -> Optional[str]:
        """A sentinel for a row of this process (none for another pid): 'new', 'ours' or None."""
        if entry.pid != os.getpid():
            return None
        path = sentinel_path_for(self.dir, entry.dcc_type, entry.instance_id)
        taken = "busy"
        # A few tries: a prober (ours or dcc-mcp-core's) holds a free sentinel for an instant.
        for attempt in range(5):
            if attempt:
                time.sleep(0.01)
            try:
                taken = hold_sentinel(path)
            except OSError as err:
                raise RegistryFileError(f"cannot create the sentinel lock {path}: {err}") from err
            if taken != "busy":
                break
        if taken == "busy":
            raise ServiceAlreadyRegistered(
                f"{entry.dcc_type} instance {entry.instance_id} is already registered (its sentinel {path} is held)"
            )
        entry.sentinel_path = path
        return taken

    def _entries(self) -> List[ServiceEntry]:
        """Well-formed rows of the current file, one per key (the freshest heartbeat wins)."""
        state = read_registry_file(self.file)
        rows: List[Any] = []
        if state.kind == "rows":
            rows = state.rows
        elif state.kind == "corrupt":
            rows = self._repair(state.reason)
        by_key: Dict[Tuple[str, str], ServiceEntry] = {}
        for row in rows:
            parsed = parse_row(row)
            if parsed.entry is None:
                self._warn_once(f"skipping a malformed row in {self.file}: {parsed.problem}: {_truncate(_compact(row))}")
                continue
            e = parsed.entry
            if parsed.warning is not None:
                self._warn_once(f"{self.file}: {e.dcc_type} instance {e.instance_id}: {parsed.warning}")
            key = (e.dcc_type, e.instance_id)
            seen = by_key.get(key)
            if seen is None or e.last_heartbeat > seen.last_heartbeat:
                by_key[key] = e
        return list(by_key.values())

    def _repair(self, reason: str) -> List[Any]:
        """A read found the file corrupt: move it aside under the lock; if we cannot, read as empty."""
        try:
            return self._change(lambda current: (current, None))
        except RegistryFileError as err:
            self._warn_once(f"{self.file} is corrupt ({reason}) and could not be moved aside ({err}); reading it as empty")
            return []

    def _patch(self, dcc_type: str, instance_id: str, edit: Callable[[Dict[str, Any]], None]) -> bool:
        key = (dcc_type, instance_id)

        def apply(rows: List[Any]) -> Tuple[bool, Optional[List[Any]]]:
            changed = False
            out = []
            for row in rows:
                if key_of(row) == key:
                    row = dict(row)  # same keys, same order; only the field edited changes
                    edit(row)
                    changed = True
                out.append(row)
            return (True, out) if changed else (False, None)

        return self._change(apply)

    def _change(self, apply: Callable[[List[Any]], Tuple[T, Optional[List[Any]]]]) -> T:
        """One locked read-modify-write of services.json; ``apply`` returns (result, new rows or None)."""
        try:  # cheap, and brings back a directory a temp cleaner removed while we ran
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
        except OSError:
            pass
        with registry_locks(
            self.dir,
            services_timeout=self._services_timeout,
            backoff=self._backoff,
            stale=self.lock_stale,
            mkdir_timeout=self.lock_timeout,
            warn=self._warn,
        ) as lock:
            # Temp files of writers that died mid-write.
            cutoff = float("inf") if lock.holder_died else time.time() - self.lock_stale
            remove_dead_temp_files(self.file, cutoff, self._warn_once)
            rows = self._read_locked()
            newest = max([SCHEMA_VERSION] + [schema_version_of(r) for r in rows])
            result, new_rows = apply(rows)
            if new_rows is not None:
                if newest > SCHEMA_VERSION:
                    raise RegistryFileError(
                        f"{self.file} holds rows with schema_version {_num(newest)}, newer than the {SCHEMA_VERSION} "
                        "this version writes; refusing to rewrite it"
                    )
                write_registry_file(self.file, new_rows)
            return result

    def _read_locked(self) -> List[Any]:
        """The rows under the lock; a file that stays corrupt is moved aside and counts as empty."""
        state: FileState = read_registry_file(self.file)
        if state.kind == "corrupt":
            # A writer that does not rename (old dcc-mcp-core) may be half-way: look again.
            first = state.data
            time.sleep(_CORRUPT_RECHECK)
            state = read_registry_file(self.file)
            if state.kind == "corrupt" and state.data == first:
                aside = quarantine(self.file)
                if aside is not None:
                    self._warn(f"{self.file} was corrupt ({state.reason}); moved it aside to {aside}; the registry starts empty")
                return []
            if state.kind == "corrupt":
                raise RegistryFileError(f"{self.file} is being rewritten by a writer that does not lock; try again")
        return list(state.rows) if state.kind == "rows" else []

    def _warn_once(self, message: str) -> None:
        if message in self._warned:
            return
        if len(self._warned) >= _MAX_REMEMBERED_WARNINGS:
            self._warned.clear()
        self._warned.add(message)
        self._warn(message)


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


class Registration:
    """A row of this process kept alive: registered now, heartbeated every ``interval`` seconds
    on a daemon thread, registered again if it vanished, deregistered by close() (or on leaving
    a ``with`` block). Heartbeat failures go to the registry's on_warning."""

    def __init__(
        self, registry: FileRegistry, dcc_type: str, endpoint: EndpointLike, *, interval: float = DEFAULT_HEARTBEAT_INTERVAL, **options: Any
    ) -> None:
        self.registry = registry
        self.interval = _positive("interval", interval)
        self.entry = registry.register(dcc_type, endpoint, **options)
        self.dcc_type = dcc_type
        self.instance_id = self.entry.instance_id
        self._endpoint = endpoint
        self._options = dict(options, instance_id=self.instance_id)
        self._stop = threading.Event()
        self._beating = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"wirecall-registry-heartbeat-{dcc_type}", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return self.entry.endpoint

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._beating:
                if self._stop.is_set():
                    return
                try:
                    if not self.registry.heartbeat(self.dcc_type, self.instance_id):
                        self.entry = self.registry.register(self.dcc_type, self._endpoint, **self._options)
                except (ShutdownError, ServiceAlreadyRegistered):
                    pass
                except Exception as err:  # noqa: BLE001 - reported, and the next beat tries again
                    self.registry._warn(f"heartbeat of {self.dcc_type} {self.instance_id} failed: {err}")

    def close(self) -> bool:
        """Stops heartbeating and removes the row; False if it was not there. Idempotent."""
        if self._stop.is_set():
            return False
        self._stop.set()
        with self._beating:  # a beat in progress could otherwise put the row back
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.interval + 5)
        return self.registry.deregister(self.dcc_type, self.instance_id)

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _default_warning(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _compact(row: Any) -> str:
    try:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(row)


def _truncate(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)

