"""The endpoint grammar of the TypeScript side (src/transport/endpoint.ts)::

    tcp://host:port   host:port   [::1]:port   tcp://[::1]:port
    tls://host:port   tls://[::1]:port                     (TCP with TLS: docs/TLS.md)
    unix:/abs/path    unix:///abs/path   unix://x/y (= /x/y)   /abs/path
    unix:rel/path     ./rel/path   ../rel/path        (made absolute against cwd)
    pipe://name       \\\\.\\pipe\\name    (a Windows named pipe; on POSIX the Unix socket
                                         <private runtime dir>/<name>.sock, as in TypeScript)
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, NoReturn, Optional

from .errors import InvalidEndpoint, TransportError

__all__ = ["Endpoint", "parse_endpoint", "format_endpoint", "pipe_path", "UNIX_PATH_MAX"]

UNIX_PATH_MAX = 107 if sys.platform.startswith("linux") else 103
#: How the parsers report a problem: raises InvalidEndpoint with the text and the reason.
_Fail = Callable[[str], NoReturn]

_WIN_PIPE_PREFIX = "\\\\.\\pipe\\"
_WIN_PIPE_MAX = 256
_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?")
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


@dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint: ``kind`` is ``"tcp"`` (host, port), ``"unix"`` (path) or ``"pipe"`` (name);
    ``tls`` is true for ``tls://host:port`` (a TCP endpoint with TLS)."""

    kind: str
    host: str = ""
    port: int = 0
    path: str = ""
    name: str = ""
    tls: bool = False

    def __str__(self) -> str:
        return format_endpoint(self)


def format_endpoint(e: Endpoint) -> str:
    if e.kind == "tcp":
        scheme = "tls" if e.tls else "tcp"
        return f"{scheme}://[{e.host}]:{e.port}" if ":" in e.host else f"{scheme}://{e.host}:{e.port}"
    if e.kind == "unix":
        return f"unix:{e.path}"
    return f"pipe://{e.name}"


def parse_endpoint(text: str, cwd: Optional[str] = None) -> Endpoint:
    """Parses ``text``; raises InvalidEndpoint with the reason."""
    if not isinstance(text, str):
        raise InvalidEndpoint(str(text), "an endpoint must be a string")

    def fail(reason: str) -> NoReturn:
        raise InvalidEndpoint(text, reason)

    if text == "":
        fail("empty endpoint")
    if _CONTROL.search(text):
        fail("endpoints may not contain whitespace or control characters")
    if text[: len(_WIN_PIPE_PREFIX)].lower() == _WIN_PIPE_PREFIX:
        return _pipe(text[len(_WIN_PIPE_PREFIX) :], fail)
    m = _SCHEME.match(text)
    name = m.group(1).lower() if m else None
    slashes = bool(m and m.group(2))
    if name == "unix":
        return _unix(text[len("unix:") :], cwd, fail)
    if name in ("tcp", "tls", "pipe"):
        assert m is not None
        if not slashes:
            fail(f"write {name}://{'name' if name == 'pipe' else 'host:port'}")
        rest = text[m.end() :]
        if name == "pipe":
            return _pipe(rest, fail)
        ep = _tcp(rest, fail)
        return Endpoint("tcp", host=ep.host, port=ep.port, tls=True) if name == "tls" else ep
    if slashes:
        assert m is not None
        fail(f'unknown scheme "{m.group(1)}"; expected tcp://, tls://, unix: or pipe://')
    if text.startswith("/") or text.startswith("./") or text.startswith("../"):
        return _unix(text, cwd, fail)
    return _tcp(text, fail)


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
        return True
    except ValueError:
        return False


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return False


def _tcp(rest: str, fail: _Fail) -> Endpoint:
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            fail('missing "]" after the IPv6 address')
        host = rest[1:close]
        after = rest[close + 1 :]
        if host == "":
            fail("empty host")
        if not _is_ipv6(host):
            fail(f'"{host}" is not an IPv6 address (brackets are only for IPv6)')
        if after in ("", ":"):
            fail("missing port (expected [host]:port)")
        if not after.startswith(":"):
            fail(f'unexpected "{after}" after "]"; expected :port')
        port_text = after[1:]
    else:
        colon = rest.rfind(":")
        if colon < 0:
            fail("missing port (expected host:port; for a relative Unix socket path write ./name or unix:name)")
        host = rest[:colon]
        port_text = rest[colon + 1 :]
        if host == "":
            fail("empty host (write 127.0.0.1:port to listen on loopback)")
        if ":" in host:
            fail(f"IPv6 addresses need brackets: write [{host}]:{port_text or 'port'}")
        if not _is_ipv4(host):
            if re.fullmatch(r"[\d.]+", host):
                fail(f'"{host}" is not a valid IPv4 address')
            name = host[:-1] if host.endswith(".") else host
            if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
                fail(f'"{host}" is not a valid host name or IP address')
    if port_text == "":
        fail("missing port")
    if not re.fullmatch(r"[0-9]+", port_text):
        fail(f'port "{port_text}" is not a number')
    port = int(port_text) if len(port_text) <= 5 else 1 << 30
    if port > 65535:
        fail(f"port {port_text} is out of range 0-65535")
    return Endpoint("tcp", host=host, port=port)


def _unix_too_long(p: str) -> Optional[str]:
    n = len(p.encode("utf-8"))
    if n > UNIX_PATH_MAX:
        return f"Unix socket path is {n} bytes; the limit on {sys.platform} is {UNIX_PATH_MAX} bytes"
    return None


def _unix(raw: str, cwd: Optional[str], fail: _Fail) -> Endpoint:
    if re.fullmatch(r"/*", raw):
        fail("empty Unix socket path")
    last = raw[raw.rfind("/") + 1 :]
    if last in ("", ".", ".."):
        fail('a Unix socket path must name a file, not end with "/", "." or ".."')
    collapsed = "/" + raw.lstrip("/") if raw.startswith("/") else raw
    absolute = os.path.normpath(os.path.join(cwd if cwd is not None else os.getcwd(), collapsed))
    too_long = _unix_too_long(absolute)
    if too_long is not None:
        fail(too_long + ("" if absolute == raw else f" (resolved to {absolute})"))
    return Endpoint("unix", path=absolute)


def _check_pipe_name(name: str, fail: _Fail) -> None:
    if name == "":
        fail("empty pipe name")
    if "/" in name or "\\" in name:
        fail('a pipe name may not contain "/" or "\\"')
    if _CONTROL.search(name):
        fail("a pipe name may not contain whitespace or control characters")
    if len(_WIN_PIPE_PREFIX) + len(name) > _WIN_PIPE_MAX:
        fail(f"pipe name is too long (at most {_WIN_PIPE_MAX - len(_WIN_PIPE_PREFIX)} characters)")


def _pipe(name: str, fail: _Fail) -> Endpoint:
    _check_pipe_name(name, fail)
    if sys.platform != "win32":
        sock = os.path.join(runtime_dir_path(), f"{name}.sock")
        too_long = _unix_too_long(sock)
        if too_long is not None:
            fail(f"on this system the pipe is the Unix socket {sock}; {too_long}")
    return Endpoint("pipe", name=name)


def runtime_dir_path() -> str:
    """Where ``pipe://`` sockets live on POSIX: ``$XDG_RUNTIME_DIR/wirecall`` or ``<tmp>/wirecall-<uid>``."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "wirecall")
    return os.path.join(tempfile.gettempdir(), f"wirecall-{os.getuid()}")  # type: ignore[attr-defined,unused-ignore]  # no getuid on Windows


def pipe_path(name: str) -> str:
    """The OS path of ``pipe://name``: ``\\\\.\\pipe\\name`` on Windows, a private Unix socket elsewhere."""
    if sys.platform == "win32":
        return _WIN_PIPE_PREFIX + name
    d = runtime_dir_path()
    try:
        os.mkdir(d, 0o700)
        os.chmod(d, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(d)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise TransportError(f"unsafe runtime directory {d}: not a real directory")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:  # type: ignore[attr-defined,unused-ignore]  # no getuid on Windows
        raise TransportError(f"unsafe runtime directory {d}: not private to the current user")
    return os.path.join(d, f"{name}.sock")
