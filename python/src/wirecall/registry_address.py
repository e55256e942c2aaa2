"""Where a registered instance listens, the twin of src/manager/registry/address.ts: the
(host, port, transport_address) a row advertises for an endpoint we listen on, the endpoint
to connect to for a row, and the routing preference (IPC, then local TCP, then remote).

Windows named pipes: a ``pipe://name`` endpoint is advertised as ``{"type": "named_pipe",
"path": "\\\\.\\pipe\\name"}`` on Windows and as the Unix socket it maps to elsewhere; a
``named_pipe`` row is connectable only on Windows. The Windows branch is not exercised by
the tests (they run on Linux).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple, Union

from .endpoint import Endpoint, parse_endpoint, pipe_path
from .errors import InvalidEndpoint
from .registry_localhost import is_local_host

__all__ = ["IPC_HOST", "IPC_PORT", "EndpointLike", "TransportAddress", "to_endpoint", "address_of", "endpoint_of", "locality"]

#: IPC rows carry these in host/port, as dcc-mcp-core writes them.
IPC_HOST = "127.0.0.1"
IPC_PORT = 0

TransportAddress = Dict[str, Any]


class Addressed(Protocol):
    """What the address functions read of a row (a registry_rows.ServiceEntry)."""

    host: str
    port: int
    transport_address: Optional[TransportAddress]


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
        scheme = "tls" if get("tls") is True else "tcp"
        text = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
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


def row_says_tls(extra: Any) -> bool:
    """Whether a row's ``extras`` say its instance serves TLS: ``"extras": {"wirecall": {"tls": true}}``
    (docs/MANAGER.md, "Rows advertise TLS")."""
    extras = extra.get("extras") if isinstance(extra, Mapping) else None
    ours = extras.get("wirecall") if isinstance(extras, Mapping) else None
    return isinstance(ours, Mapping) and ours.get("tls") is True


def with_tls_extras(extra: Dict[str, Any]) -> Dict[str, Any]:
    """A row's unknown fields with ``extras.wirecall.tls: true`` merged in (what else is there is kept)."""
    extras = dict(extra.get("extras") or {}) if isinstance(extra.get("extras"), Mapping) else {}
    ours = dict(extras.get("wirecall") or {}) if isinstance(extras.get("wirecall"), Mapping) else {}
    ours["tls"] = True
    extras["wirecall"] = ours
    return {**extra, "extras": extras}


def endpoint_of(entry: Addressed) -> Endpoint:
    """Where to connect to reach a registered instance (InvalidEndpoint for unusable rows): ``tls://``
    for a TCP row whose extras say TLS."""
    e = _endpoint_of(entry)
    if e.kind == "tcp" and row_says_tls(getattr(entry, "extra", None)):
        return Endpoint("tcp", host=e.host, port=e.port, tls=True)
    return e


def _endpoint_of(entry: Addressed) -> Endpoint:
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


def locality(entry: Addressed) -> int:
    """Routing preference: IPC (0) before local TCP (1) before remote TCP (2)."""
    a = entry.transport_address
    kind = a.get("type") if a is not None else "tcp"
    if kind in ("unix_socket", "named_pipe"):
        return 0
    host = a["host"] if a is not None and kind == "tcp" else entry.host
    return 1 if is_local_host(host) else 2
