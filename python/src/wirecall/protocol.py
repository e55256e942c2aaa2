"""The native wire, sans-IO: message types, MessagePack with limits, validation; the framing
(``FrameDecoder``, the length prefix) is ``protocol_frames``, re-exported here.

Everything here works on bytes and Python values only; nothing touches a socket.
docs/PROTOCOL.md describes every message byte by byte.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import msgpack

from .errors import ProtocolError
from .protocol_diagnose import _UNDECODABLE, _diagnose
from .protocol_frames import _HEADER, DEFAULT_MAX_FRAME_SIZE, HEADER_SIZE, Buffer, FrameDecoder  # noqa: F401  (read from here)

__all__ = [
    "PROTOCOL_NAME",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "HELLO",
    "WELCOME",
    "REJECT",
    "CALL",
    "RESULT",
    "ERROR",
    "CANCEL",
    "NOTIFY",
    "STREAM_OPEN",
    "CALLER_MESSAGE",
    "CALLER_END",
    "CALLER_CREDIT",
    "HANDLER_MESSAGE",
    "HANDLER_CREDIT",
    "PING",
    "PONG",
    "SHUTDOWN",
    "MESSAGE_NAMES",
    "SERVER_STREAM",
    "CLIENT_STREAM",
    "BIDI_STREAM",
    "HEADER_SIZE",
    "MAX_UINT32",
    "DEFAULT_MAX_FRAME_SIZE",
    "HANDSHAKE_FRAME_LIMIT",
    "DEFAULT_MAX_MESSAGE_ELEMENTS",
    "DEFAULT_MAX_MESSAGE_DEPTH",
    "DEFAULT_STREAM_WINDOW_MESSAGES",
    "DEFAULT_STREAM_WINDOW_BYTES",
    "pack",
    "pack_frame",
    "unpack_payload",
    "validate_message",
    "decode_payload",
    "FrameDecoder",
]

PROTOCOL_NAME = "wirecall"
PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)

HELLO = 1
WELCOME = 2
REJECT = 3
CALL = 16
RESULT = 17
ERROR = 18
CANCEL = 19
NOTIFY = 20
STREAM_OPEN = 32
CALLER_MESSAGE = 33
CALLER_END = 34
CALLER_CREDIT = 35
HANDLER_MESSAGE = 36
HANDLER_CREDIT = 37
PING = 48
PONG = 49
SHUTDOWN = 50

MESSAGE_NAMES: Dict[int, str] = {
    HELLO: "HELLO",
    WELCOME: "WELCOME",
    REJECT: "REJECT",
    CALL: "CALL",
    RESULT: "RESULT",
    ERROR: "ERROR",
    CANCEL: "CANCEL",
    NOTIFY: "NOTIFY",
    STREAM_OPEN: "STREAM_OPEN",
    CALLER_MESSAGE: "CALLER_MESSAGE",
    CALLER_END: "CALLER_END",
    CALLER_CREDIT: "CALLER_CREDIT",
    HANDLER_MESSAGE: "HANDLER_MESSAGE",
    HANDLER_CREDIT: "HANDLER_CREDIT",
    PING: "PING",
    PONG: "PONG",
    SHUTDOWN: "SHUTDOWN",
}

SERVER_STREAM = 1
CLIENT_STREAM = 2
BIDI_STREAM = 3

MAX_UINT32 = 0xFFFFFFFF
HANDSHAKE_FRAME_LIMIT = 64 * 1024
DEFAULT_MAX_MESSAGE_ELEMENTS = 100_000
DEFAULT_MAX_MESSAGE_DEPTH = 64
DEFAULT_STREAM_WINDOW_MESSAGES = 1024
DEFAULT_STREAM_WINDOW_BYTES = 256 * 1024



def pack(value: Any) -> bytes:
    """One MessagePack value, as this package writes it (str as str, bytes as bin)."""
    return msgpack.packb(value, use_bin_type=True, datetime=True)


def pack_frame(message: Any) -> bytes:
    """A complete frame: the 4-byte big-endian length, then the MessagePack payload."""
    payload = pack(message)
    return _HEADER.pack(len(payload)) + payload


def _ext_hook(code: int, data: bytes) -> Any:
    raise ProtocolError(f"extension type {code} is not allowed (only the timestamp extension, -1)")


def _measure(value: Any, max_elements: int, max_depth: int) -> None:
    """Counts elements and nesting as PROTOCOL.md 3.2 defines them; raises ProtocolError past a limit."""
    count = 0
    # (container, depth) stack: iterative, so no recursion limit is involved.
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        count += 1
        t = type(v)
        if t is list:
            depth += 1
            if depth > max_depth:
                raise ProtocolError(f"message nests deeper than {max_depth} (limit maxMessageDepth)")
            for item in v:
                if type(item) is list or type(item) is dict:
                    stack.append((item, depth))
                else:
                    count += 1
        elif t is dict:
            depth += 1
            if depth > max_depth:
                raise ProtocolError(f"message nests deeper than {max_depth} (limit maxMessageDepth)")
            for key, item in v.items():
                count += 1  # the key (a scalar: the decoder refuses container keys)
                if type(item) is list or type(item) is dict:
                    stack.append((item, depth))
                else:
                    count += 1
        if count > max_elements:
            raise ProtocolError(f"message holds more than {max_elements} elements (limit maxMessageElements)")


def unpack_payload(
    payload: Buffer,
    max_elements: int = DEFAULT_MAX_MESSAGE_ELEMENTS,
    max_depth: int = DEFAULT_MAX_MESSAGE_DEPTH,
) -> Any:
    """Exactly one MessagePack value within the structural limits, else ProtocolError."""
    if len(payload) == 0:
        raise ProtocolError("empty frame")
    try:
        value = msgpack.unpackb(payload, raw=False, strict_map_key=False, ext_hook=_ext_hook, timestamp=0)
    except ProtocolError:
        raise
    except Exception as e:
        # msgpack's wording differs between versions and its C and pure-Python builds:
        # find the first offending byte ourselves and say what the reference says.
        reason = _diagnose(payload)
        if reason is None:  # well-formed but not decodable, e.g. a map whose key is an array
            reason = _UNDECODABLE + str(e)
        raise ProtocolError(reason) from None
    # Every element takes at least one byte and every level of nesting one more, so a
    # payload no longer than a limit cannot break it: small messages skip the walk.
    n = len(payload)
    if n > max_elements or n > max_depth:
        _measure(value, max_elements, max_depth)
    return value


# ------------------------------------------------------------------ validation


def _uint(m: List[Any], i: int) -> bool:
    """Is m[i] a uint32? An integral float is accepted (and made an int), as the reference does."""
    v = m[i]
    if type(v) is int:
        return 0 <= v <= MAX_UINT32
    if type(v) is float and v.is_integer() and 0 <= v <= MAX_UINT32:
        m[i] = int(v)
        return True
    return False


def _is_uint(v: Any) -> bool:
    return type(v) is int and 0 <= v <= MAX_UINT32


def _bad(name: str) -> ProtocolError:
    return ProtocolError(f"malformed {name} message")


def _optional_window(m: Dict[str, Any]) -> bool:
    wm = m.get("streamWindowMessages")
    wb = m.get("streamWindowBytes")
    return (wm is None or (_is_uint(wm) and wm > 0)) and (wb is None or (_is_uint(wb) and wb > 0))


def _check_hello(h: Any) -> None:
    if not (
        type(h) is dict
        and type(h.get("protocol")) is str
        and type(h.get("versions")) is list
        and all(type(v) in (int, float) and type(v) is not bool for v in h["versions"])
        and type(h.get("peerName")) is str
        and type(h.get("peerVersion")) is str
        and (h.get("token") is None or type(h.get("token")) is str)
        and _is_uint(h.get("maxFrameSize"))
        and _is_uint(h.get("heartbeatMs"))
        and _optional_window(h)
    ):
        raise _bad("HELLO")


def _check_welcome(w: Any) -> None:
    if not (
        type(w) is dict
        and type(w.get("protocol")) is str
        and type(w.get("version")) in (int, float)
        and type(w.get("peerName")) is str
        and type(w.get("peerVersion")) is str
        and type(w.get("connectionId")) is str
        and _is_uint(w.get("maxFrameSize"))
        and _is_uint(w.get("heartbeatMs"))
        and _optional_window(w)
    ):
        raise _bad("WELCOME")


def _check_error_body(e: Any) -> bool:
    return (
        type(e) is dict
        and type(e.get("name")) is str
        and type(e.get("message")) is str
        and (e.get("code") is None or type(e.get("code")) is str)
        and (e.get("stack") is None or type(e.get("stack")) is str)
    )


_NOT_A_MESSAGE = "frame is not a wirecall message (expected an array starting with a type number)"


def validate_message(m: Any) -> List[Any]:
    """Checks the shape of a decoded value (PROTOCOL.md section 5); returns it, or raises ProtocolError."""
    if type(m) is not list or not m or type(m[0]) not in (int, float) or type(m[0]) is bool:
        raise ProtocolError(_NOT_A_MESSAGE)
    t = m[0]
    n = len(m)
    if t == CALL:
        if n != 5 or not _uint(m, 1) or type(m[2]) is not str or not (m[4] is None or _uint(m, 4)):
            raise _bad("CALL")
    elif t == RESULT:
        if n != 3 or not _uint(m, 1):
            raise _bad("RESULT")
    elif t == ERROR:
        if n != 4 or not _uint(m, 1) or not _uint(m, 2) or m[2] == 0 or not _check_error_body(m[3]):
            raise _bad("ERROR")
    elif t == CANCEL or t == CALLER_END:
        if n != 2 or not _uint(m, 1):
            raise _bad(MESSAGE_NAMES[int(t)])
    elif t == NOTIFY:
        if n != 3 or type(m[1]) is not str:
            raise _bad("NOTIFY")
    elif t == PING or t == PONG:
        if n != 2 or not _uint(m, 1):
            raise _bad(MESSAGE_NAMES[int(t)])
    elif t == SHUTDOWN:
        if n != 2 or not (m[1] is None or type(m[1]) is str):
            raise _bad("SHUTDOWN")
    elif t == STREAM_OPEN:
        if (
            n != 8
            or not _uint(m, 1)
            or type(m[2]) is not str
            or not (m[4] is None or _uint(m, 4))
            or not (type(m[5]) is int and m[5] in (SERVER_STREAM, CLIENT_STREAM, BIDI_STREAM))
            or not _uint(m, 6)
            or m[6] == 0
            or not _uint(m, 7)
            or m[7] == 0
        ):
            raise _bad("STREAM_OPEN")
    elif t == CALLER_MESSAGE or t == HANDLER_MESSAGE:
        if n != 3 or not _uint(m, 1):
            raise _bad(MESSAGE_NAMES[int(t)])
    elif t == CALLER_CREDIT or t == HANDLER_CREDIT:
        if n != 4 or not _uint(m, 1) or not _uint(m, 2) or not _uint(m, 3):
            raise _bad(MESSAGE_NAMES[int(t)])
    elif t == HELLO:
        if n != 2:
            raise _bad("HELLO")
        _check_hello(m[1])
    elif t == WELCOME:
        if n != 2:
            raise _bad("WELCOME")
        _check_welcome(m[1])
    elif t == REJECT:
        if n != 3 or type(m[1]) is not str or type(m[2]) is not str:
            raise _bad("REJECT")
    else:
        shown = int(t) if type(t) is float and t.is_integer() else t
        if type(t) is int and 32 <= t <= 47:
            raise ProtocolError(f"stream message type {t} is reserved and not supported by this peer")
        raise ProtocolError(f"unknown message type {shown}")
    if type(t) is float:
        if not t.is_integer():
            raise ProtocolError(f"unknown message type {t}")
        m[0] = int(t)
    return m


def decode_payload(
    payload: Buffer,
    max_elements: int = DEFAULT_MAX_MESSAGE_ELEMENTS,
    max_depth: int = DEFAULT_MAX_MESSAGE_DEPTH,
) -> List[Any]:
    """One frame's payload → a validated message (a list), or ProtocolError."""
    return validate_message(unpack_payload(payload, max_elements, max_depth))


def error_body(name: str, message: str, code: Optional[str] = None, data: Any = None, stack: Optional[str] = None) -> Dict[str, Any]:
    """An error body in the reference's key order, leaving absent keys out."""
    body: Dict[str, Any] = {"name": name, "message": message}
    if code is not None:
        body["code"] = code
    if data is not None:
        body["data"] = data
    if stack is not None:
        body["stack"] = stack
    return body
