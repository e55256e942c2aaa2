"""One services.json row <-> ServiceEntry, the twin of src/manager/registry/row-codec.ts,
timestamp.ts and address.ts.

Rows are read leniently (absent optional fields get dcc-mcp-core's defaults) but typed
strictly (a field of the wrong type makes the row malformed). Rows we did not create
are never re-serialized: they are kept as the parsed JSON value and only the fields we
change are patched in, so everything a newer or foreign writer put there survives a
rewrite (the same JSON value, keys in the same order).

Timestamps: dcc-mcp-core's Rust side writes ``{"secs_since_epoch", "nanos_since_epoch"}``,
Python plugins write integer or float Unix seconds; all three are read, the object form
is written. In memory a timestamp is float seconds since the Unix epoch (``time.time()``).
"""

from __future__ import annotations

import math
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Mapping, Optional, Set, Tuple, Union

from .endpoint import Endpoint, format_endpoint, parse_endpoint, pipe_path
from .errors import InvalidEndpoint

__all__ = [
    "SCHEMA_VERSION",
    "SERVICE_STATUSES",
    "IPC_HOST",
    "IPC_PORT",
    "ServiceEntry",
    "ParsedRow",
    "parse_row",
    "row_of",
    "unknown_fields",
    "to_wire_timestamp",
    "from_wire_timestamp",
    "address_of",
    "endpoint_of",
    "locality",
    "is_local_host",
]

#: The schema version of the rows this code writes; files with newer rows are read-only.
SCHEMA_VERSION = 1

SERVICE_STATUSES: Tuple[str, ...] = ("available", "busy", "unreachable", "shutting_down", "booting", "stale")

#: IPC rows carry these in host/port, as dcc-mcp-core writes them.
IPC_HOST = "127.0.0.1"
IPC_PORT = 0

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

_MAX_SAFE = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER: what the TypeScript reader accepts
_NANOS = 1_000_000_000

RawRow = Dict[str, Any]
TransportAddress = Dict[str, Any]


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


@dataclass
class ParsedRow:
    entry: Optional[ServiceEntry] = None
    problem: Optional[str] = None
    #: Something odd but usable, e.g. an unknown status.
    warning: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.entry is not None


# ---- timestamps ---------------------------------------------------------------


def to_wire_timestamp(seconds: float) -> Dict[str, int]:
    """Float seconds -> ``{"secs_since_epoch", "nanos_since_epoch"}`` (rounded to the nanosecond)."""
    secs = math.floor(seconds)
    nanos = round((seconds - secs) * _NANOS)
    if nanos >= _NANOS:  # rounding can carry into the next second
        secs += 1
        nanos -= _NANOS
    return {"secs_since_epoch": int(secs), "nanos_since_epoch": int(nanos)}


def wire_timestamp_ns(ns: int) -> Dict[str, int]:
    """Integer nanoseconds (``time.time_ns()``) -> the object form, exactly."""
    return {"secs_since_epoch": ns // _NANOS, "nanos_since_epoch": ns % _NANOS}


def from_wire_timestamp(value: Any) -> Optional[float]:
    """Float seconds, or None when ``value`` is not a timestamp in any known form."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, dict):
        return None
    secs = _safe_int(value.get("secs_since_epoch"))
    nanos = _safe_int(value.get("nanos_since_epoch"))
    if secs is None or secs < 0 or nanos is None or nanos < 0 or nanos >= _NANOS:
        return None
    return secs + nanos / _NANOS


# ---- rows ---------------------------------------------------------------------


def _safe_int(v: Any) -> Optional[int]:
    """``v`` as an int if JavaScript's Number.isSafeInteger would accept it (1.0 included), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -_MAX_SAFE <= v <= _MAX_SAFE else None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) <= _MAX_SAFE:
        return int(v)
    return None


def _port(v: Any) -> Optional[int]:
    n = _safe_int(v)
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
    schema_version = 0 if sv_raw is None else _safe_int(sv_raw)
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
        pid = _safe_int(raw["pid"])
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


# ---- addresses ----------------------------------------------------------------

EndpointLike = Union[str, Endpoint, Mapping[str, Any]]


def to_endpoint(endpoint: Any) -> Endpoint:
    """An Endpoint from a string, an Endpoint, a mapping or object with ``kind`` (checked by the grammar)."""
    if isinstance(endpoint, str):
        return parse_endpoint(endpoint)
    if isinstance(endpoint, Mapping):
        get = endpoint.get
    else:
        get = lambda k, d=None: getattr(endpoint, k, d)  # noqa: E731
    kind = get("kind")
    if kind == "tcp":
        host, port = get("host"), get("port")
        if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
            raise InvalidEndpoint(str(host), "a tcp endpoint needs a string host and an integer port")
        text = f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
    elif kind == "unix":
        path = get("path")
        if not isinstance(path, str):
            raise InvalidEndpoint(str(path), "a unix endpoint needs a string path")
        text = f"unix:{path}"
    elif kind == "pipe":
        name = get("name")
        if not isinstance(name, str):
            raise InvalidEndpoint(str(name), "a pipe endpoint needs a string name")
        text = f"pipe://{name}"
    else:
        raise InvalidEndpoint(str(kind), "unknown endpoint kind; expected tcp, unix or pipe")
    parsed = parse_endpoint(text)
    if parsed.kind != kind:
        raise InvalidEndpoint(text, f"does not parse back as a {kind} endpoint")
    return parsed


def address_of(endpoint: EndpointLike) -> Tuple[str, int, TransportAddress]:
    """(host, port, transport_address) to advertise for an endpoint we listen on.

    A pipe on POSIX is really a Unix socket in wirecall's private runtime dir: that path
    is advertised, so any peer can connect to it without knowing the pipe mapping.
    """
    e = to_endpoint(endpoint)
    if e.kind == "tcp":
        return e.host, e.port, {"type": "tcp", "host": e.host, "port": e.port}
    if e.kind == "unix":
        return IPC_HOST, IPC_PORT, {"type": "unix_socket", "path": e.path}
    where = pipe_path(e.name)
    kind = "named_pipe" if sys.platform == "win32" else "unix_socket"
    return IPC_HOST, IPC_PORT, {"type": kind, "path": where}


def _tcp_endpoint(host: str, port: int) -> Endpoint:
    text = f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"
    if port == 0:
        raise InvalidEndpoint(text, "port 0 cannot be connected to")
    return parse_endpoint(text)


def endpoint_of(entry: ServiceEntry) -> Endpoint:
    """Where to connect to reach a registered instance (InvalidEndpoint for unusable rows)."""
    a = entry.transport_address
    if a is None:
        return _tcp_endpoint(entry.host, entry.port)
    kind = a.get("type")
    if kind == "tcp":
        return _tcp_endpoint(a["host"], a["port"])
    if kind == "unix_socket":
        return parse_endpoint("unix:" + a["path"])
    if kind == "named_pipe":
        # On POSIX a pipe:// endpoint maps to *our* private socket dir, which is not where
        # a foreign named_pipe row points: refuse rather than connect somewhere else.
        if sys.platform != "win32":
            raise InvalidEndpoint(a["path"], "named pipes exist only on Windows")
        e = parse_endpoint(a["path"])
        if e.kind != "pipe":
            raise InvalidEndpoint(a["path"], "a named_pipe path must look like \\\\.\\pipe\\name")
        return e
    raise InvalidEndpoint(str(a), "unknown transport_address type")


def locality(entry: ServiceEntry) -> int:
    """Routing preference: IPC (0) before local TCP (1) before remote TCP (2)."""
    a = entry.transport_address
    kind = a.get("type") if a is not None else "tcp"
    if kind in ("unix_socket", "named_pipe"):
        return 0
    host = a["host"] if a is not None and kind == "tcp" else entry.host
    return 1 if is_local_host(host) else 2


_LOOPBACK = frozenset(["127.0.0.1", "::1", "localhost", "0.0.0.0", "::"])
_local_cache: Tuple[float, FrozenSet[str]] = (0.0, frozenset())


def is_local_host(host: str) -> bool:
    """True when ``host`` names this machine (loopback, any-address, our host name or an address of ours)."""
    h = host.lower()
    if h.startswith("::ffff:"):
        h = h[len("::ffff:") :]  # IPv4-mapped IPv6
    if h in _LOOPBACK or h.startswith("127."):
        return True
    if h == socket.gethostname().lower():
        return True
    return h in _local_addresses()


def _local_addresses() -> FrozenSet[str]:
    """The addresses of this machine's interfaces (cached for 30 s)."""
    global _local_cache
    stamp, addrs = _local_cache
    if time.monotonic() - stamp < 30 and stamp != 0.0:
        return addrs
    found: Set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]).split("%")[0].lower())
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        found |= _linux_addresses()
    addrs = frozenset(found)
    _local_cache = (time.monotonic(), addrs)
    return addrs


def _linux_addresses() -> Set[str]:
    found: Set[str] = set()
    try:  # IPv6: 32 hex digits per line
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                hexa = line.split()[0]
                found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexa)).lower())
    except (OSError, ValueError, IndexError):
        pass
    try:  # IPv4: the "/32 host LOCAL" entries of the routing trie
        with open("/proc/net/fib_trie", encoding="ascii") as f:
            previous = ""
            for line in f:
                if "/32 host LOCAL" in line and previous:
                    found.add(previous)
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "|--":
                    previous = parts[1]
    except OSError:
        pass
    return found

