"""One services.json row <-> ServiceEntry, the twin of src/manager/registry/row-codec.ts.

Rows are read leniently (absent optional fields get dcc-mcp-core's defaults) but typed
strictly (a field of the wrong type makes the row malformed). Rows we did not create
are never re-serialized: they are kept as the parsed JSON value and only the fields we
change are patched in, so everything a newer or foreign writer put there survives a
rewrite (the same JSON value, keys in the same order). Timestamps are read and written by
registry_timestamps, addresses by registry_address.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .endpoint import format_endpoint
from .registry_address import IPC_HOST, IPC_PORT, TransportAddress, endpoint_of, row_says_tls
from .registry_timestamps import from_wire_timestamp, safe_int, to_wire_timestamp

__all__ = [
    "SCHEMA_VERSION",
    "SERVICE_STATUSES",
    "ServiceEntry",
    "ParsedRow",
    "parse_row",
    "row_of",
    "unknown_fields",
    "schema_version_of",
    "row_key",
    "key_of",
    "is_raw_row",
]

#: The schema version of the rows this code writes; files with newer rows are read-only.
SCHEMA_VERSION = 1

SERVICE_STATUSES: Tuple[str, ...] = ("available", "busy", "unreachable", "shutting_down", "booting", "stale")

#: Field order of the rows we write: the order dcc-mcp-core writes them.
KNOWN_FIELDS: Tuple[str, ...] = (
    "schema_version",
    "dcc_type",
    "instance_id",
    "host",
    "port",
    "transport_address",
    "version",
    "scene",
    "pid",
    "sentinel_path",
    "metadata",
    "registered_at",
    "last_heartbeat",
    "status",
)
_KNOWN = frozenset(KNOWN_FIELDS)


RawRow = Dict[str, Any]


@dataclass
class ServiceEntry:
    """One instance in the registry (TypeScript's ServiceEntry, in snake_case).

    ``registered_at`` and ``last_heartbeat`` are float seconds since the Unix epoch.
    ``transport_address`` is dcc-mcp-core's ``{"type": "tcp", "host", "port"}``,
    ``{"type": "unix_socket", "path"}`` or ``{"type": "named_pipe", "path"}``.
    ``extra`` holds the fields this version does not know (display_name, documents,
    extras, ...), as they were.
    """

    dcc_type: str
    instance_id: str
    host: str
    port: int
    version: Optional[str] = None
    scene: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    registered_at: float = 0.0
    last_heartbeat: float = 0.0
    status: str = "available"
    schema_version: int = SCHEMA_VERSION
    transport_address: Optional[TransportAddress] = None
    pid: Optional[int] = None
    sentinel_path: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """Where to connect, as an endpoint string (``tcp://127.0.0.1:9000``, ``unix:/run/x.sock``).

        Raises InvalidEndpoint for a row nobody can connect to here (TCP port 0, a named
        pipe on POSIX, an unknown transport_address type).
        """
        return format_endpoint(endpoint_of(self))

    @property
    def tls(self) -> bool:
        """Whether the instance serves TLS (its row's ``extras.wirecall.tls``): then ``endpoint`` is
        ``tls://…``; connect with the ``tls`` option for its CA and client certificate, e.g.
        ``connect(entry.endpoint, tls=my_tls if entry.tls else None)``."""
        return row_says_tls(self.extra)


@dataclass
class ParsedRow:
    entry: Optional[ServiceEntry] = None
    problem: Optional[str] = None
    #: Something odd but usable, e.g. an unknown status.
    warning: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.entry is not None


# ---- rows ---------------------------------------------------------------------


def _port(v: Any) -> Optional[int]:
    n = safe_int(v)
    return n if n is not None and 0 <= n <= 65535 else None


def unknown_fields(fields: Mapping[str, Any]) -> Dict[str, Any]:
    """Only the fields this version does not know (what ``extra`` may hold)."""
    return {k: v for k, v in fields.items() if k not in _KNOWN}


def is_raw_row(value: Any) -> bool:
    return isinstance(value, dict)


def _parse_transport_address(value: Any) -> Union[TransportAddress, str]:
    if not isinstance(value, dict):
        return "transport_address is not a JSON object"
    kind = value.get("type")
    if kind == "tcp":
        host, port = value.get("host"), _port(value.get("port"))
        if not isinstance(host, str) or host == "" or port is None:
            return "transport_address tcp needs a host and a port"
        return {"type": "tcp", "host": host, "port": port}
    if kind in ("unix_socket", "named_pipe"):
        path = value.get("path")
        if not isinstance(path, str) or path == "":
            return f"transport_address {kind} needs a path"
        return {"type": kind, "path": path}
    return f"unknown transport_address type {_js_json(kind)}"


def _js_json(value: Any) -> str:
    import json

    return "undefined" if value is None else json.dumps(value, ensure_ascii=False)


def parse_row(raw: Any) -> ParsedRow:
    """A row of services.json as a ServiceEntry, or the reason it is malformed."""
    if not isinstance(raw, dict):
        return ParsedRow(problem="row is not a JSON object")

    def fail(problem: str) -> ParsedRow:
        return ParsedRow(problem=problem)

    sv_raw = raw.get("schema_version")
    schema_version = 0 if sv_raw is None else safe_int(sv_raw)
    if schema_version is None or schema_version < 0:
        return fail("schema_version is not a non-negative integer")
    dcc_type = raw.get("dcc_type")
    if not isinstance(dcc_type, str) or dcc_type == "":
        return fail("dcc_type is missing or not a non-empty string")
    instance_id = raw.get("instance_id")
    if not isinstance(instance_id, str) or instance_id == "":
        return fail("instance_id is missing or not a non-empty string")

    transport_address: Optional[TransportAddress] = None
    if raw.get("transport_address") is not None:
        parsed = _parse_transport_address(raw["transport_address"])
        if isinstance(parsed, str):
            return fail(parsed)
        transport_address = parsed
    # host/port may be left out when transport_address says it all.
    host = raw.get("host")
    if host is None and transport_address is not None:
        host = transport_address["host"] if transport_address["type"] == "tcp" else IPC_HOST
    if not isinstance(host, str):
        return fail("host is missing or not a string")
    port_raw = raw.get("port")
    if port_raw is None and transport_address is not None:
        port_raw = transport_address["port"] if transport_address["type"] == "tcp" else IPC_PORT
    port = _port(port_raw)
    if port is None:
        return fail("port is missing or not an integer in 0-65535")

    version = raw.get("version")
    if version is not None and not isinstance(version, str):
        return fail("version is not a string or null")
    scene = raw.get("scene")
    if scene is not None and not isinstance(scene, str):
        return fail("scene is not a string or null")
    pid: Optional[int] = None
    if raw.get("pid") is not None:
        pid = safe_int(raw["pid"])
        if pid is None or pid <= 0:
            return fail("pid is not a positive integer")
    sentinel_path = raw.get("sentinel_path")
    if sentinel_path is not None and not isinstance(sentinel_path, str):
        return fail("sentinel_path is not a string or null")
    metadata = raw.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return fail("metadata is not a JSON object")

    lh_raw = raw.get("last_heartbeat")
    if lh_raw is None:
        lh_raw = raw.get("registered_at")
    ra_raw = raw.get("registered_at")
    if ra_raw is None:
        ra_raw = raw.get("last_heartbeat")
    if lh_raw is None:
        return fail("last_heartbeat and registered_at are both missing")
    last_heartbeat = from_wire_timestamp(lh_raw)
    if last_heartbeat is None:
        return fail("last_heartbeat is not a timestamp")
    registered_at = from_wire_timestamp(ra_raw)
    if registered_at is None:
        return fail("registered_at is not a timestamp")

    status_raw = raw.get("status")
    if status_raw is None:
        status_raw = "available"
    if not isinstance(status_raw, str):
        return fail("status is not a string")
    # An unknown status (from a newer writer) keeps the row visible but never routed to.
    known = status_raw in SERVICE_STATUSES
    entry = ServiceEntry(
        dcc_type=dcc_type,
        instance_id=instance_id,
        host=host,
        port=port,
        version=version,
        scene=scene,
        metadata=metadata,
        registered_at=registered_at,
        last_heartbeat=last_heartbeat,
        status=status_raw if known else "unreachable",
        schema_version=schema_version,
        transport_address=transport_address,
        pid=pid,
        sentinel_path=sentinel_path if sentinel_path else None,
        extra=unknown_fields(raw),
    )
    if known:
        return ParsedRow(entry=entry)
    return ParsedRow(entry=entry, warning=f"unknown status {_js_json(status_raw)}, treated as unreachable")


def row_of(entry: ServiceEntry) -> RawRow:
    """The row for an entry we create, in dcc-mcp-core's field order, extra fields last."""
    row: RawRow = {
        "schema_version": entry.schema_version,
        "dcc_type": entry.dcc_type,
        "instance_id": entry.instance_id,
        "host": entry.host,
        "port": entry.port,
    }
    if entry.transport_address is not None:
        row["transport_address"] = dict(entry.transport_address)
    row["version"] = entry.version
    row["scene"] = entry.scene
    if entry.pid is not None:
        row["pid"] = entry.pid
    if entry.sentinel_path is not None:
        row["sentinel_path"] = entry.sentinel_path
    row["metadata"] = entry.metadata
    row["registered_at"] = to_wire_timestamp(entry.registered_at)
    row["last_heartbeat"] = to_wire_timestamp(entry.last_heartbeat)
    row["status"] = entry.status
    row.update(unknown_fields(entry.extra))
    return row


def schema_version_of(row: Any) -> float:
    """The schema version a raw row declares (0 when missing or unreadable)."""
    v = row.get("schema_version") if isinstance(row, dict) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return 0
    return v if math.isfinite(v) else 0


def row_key(dcc_type: str, instance_id: str) -> Tuple[str, str]:
    return (dcc_type, instance_id)


def key_of(row: Any) -> Optional[Tuple[str, str]]:
    """The (dcc_type, instance_id) key of a raw row, if it has one."""
    if not isinstance(row, dict):
        return None
    d, i = row.get("dcc_type"), row.get("instance_id")
    return (d, i) if isinstance(d, str) and isinstance(i, str) else None
