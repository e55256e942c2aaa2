"""The internals of FileRegistry's reads and writes: new rows, their sentinels, reading the
rows (malformed ones warned about once), repairing a corrupt file, and the locked
read-modify-write every change goes through. A mixin of ``registry.FileRegistry`` (its
state lives there)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, TypeVar

from .errors import InvalidOption
from .registry_errors import RegistryFileError, SerializationError, ServiceAlreadyRegistered
from .registry_file import FileState, quarantine, read_registry_file, remove_dead_temp_files, write_registry_file
from .registry_locks import registry_locks
from .registry_address import EndpointLike, address_of, to_endpoint, with_tls_extras
from .registry_rows import SCHEMA_VERSION, SERVICE_STATUSES, ServiceEntry, key_of, parse_row, schema_version_of, unknown_fields
from .registry_sentinel import hold_sentinel, sentinel_path_for

T = TypeVar("T")

_CORRUPT_RECHECK = 0.05
_MAX_REMEMBERED_WARNINGS = 1000


class _Store:
    """Rows in and out of services.json, for FileRegistry."""

    # What it uses of FileRegistry (declared for the type checker; set in FileRegistry.__init__).
    dir: str
    file: str
    lock_stale: float
    lock_timeout: float
    _backoff: float
    _services_timeout: float
    _warn: Callable[[str], None]
    _warned: Set[str]

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
        unknown = unknown_fields(_json_object("extra", {} if extra is None else extra))
        if to_endpoint(endpoint).tls:  # a TLS server says so in its row (docs/MANAGER.md)
            unknown = with_tls_extras(unknown)
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
            metadata=_string_map("metadata", {} if metadata is None else metadata),
            status=status,
            schema_version=SCHEMA_VERSION,
            extra=unknown,
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


def _string_map(what: str, value: Any) -> Dict[str, Any]:
    """metadata as dcc-mcp-core reads it, strings only: any other value makes it set the
    whole services.json aside as corrupt, losing every row in it."""
    copied = _json_object(what, value)
    for key, item in copied.items():
        if not isinstance(item, str):
            raise InvalidOption(
                f"{what}.{key} must be a string, got {type(item).__name__} "
                "(dcc-mcp-core reads metadata as strings; put structured data in extra={'extras': {...}})"
            )
    return copied


def _json_object(what: str, value: Any) -> Dict[str, Any]:
    """A JSON-safe copy (the caller's object may change later); SerializationError if it cannot be JSON."""
    try:
        copied = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise SerializationError(f"{what} cannot be written as JSON: {err}") from err
    if not isinstance(copied, dict):
        raise SerializationError(f"{what} must be a JSON object")
    return copied


def _compact(row: Any) -> str:
    try:
        return json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return repr(row)


def _truncate(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _num(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)
