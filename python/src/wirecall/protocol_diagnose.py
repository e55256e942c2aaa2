"""Why a MessagePack payload does not decode, in the reference's words (PROTOCOL.md): a walk of
its bytes to the first rule it breaks. msgpack's own messages differ between its versions and
its C and pure-Python builds, so ``protocol.unpack_payload`` asks this module instead."""

from __future__ import annotations

from typing import Optional

#: The start of every "cannot decode" reason (protocol.unpack_payload uses it too).
_UNDECODABLE = "undecodable MessagePack payload: "

_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
_SIZED = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}  # bin and str: a length, then bytes
_EXT = {0xC7: 1, 0xC8: 2, 0xC9: 4}
_CONTAINER = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}  # length bytes, items per entry


def _diagnose(data: bytes) -> Optional[str]:
    """The first rule one MessagePack value in ``data`` breaks, in the reference's words; None if none."""
    n = len(data)
    pos = 0
    pending = 1  # values still expected
    truncated = _UNDECODABLE + "truncated MessagePack"

    def ext(type_byte: int, length: int) -> Optional[str]:
        t = type_byte - 256 if type_byte > 127 else type_byte
        if t != -1:
            return f"extension type {t} is not allowed (only the timestamp extension, -1)"
        if length not in (4, 8, 12):
            return f"timestamp extension (-1) of length {length} is not allowed (only 4, 8 or 12)"
        return None

    while pending > 0:
        if pos >= n:
            return truncated
        b = data[pos]
        pos += 1
        pending -= 1
        if b <= 0x7F or b >= 0xE0:
            continue
        if b <= 0x8F:
            pending += 2 * (b & 0x0F)
        elif b <= 0x9F:
            pending += b & 0x0F
        elif b <= 0xBF:
            pos += b & 0x1F
        elif b == 0xC1:
            return _UNDECODABLE + "reserved byte 0xc1"
        elif b in _FIXED:
            pos += _FIXED[b]
        elif b in _SIZED or b in _EXT or b in _CONTAINER:
            width = _SIZED.get(b) or _EXT.get(b) or _CONTAINER[b][0]
            if pos + width > n:
                return truncated
            length = int.from_bytes(data[pos : pos + width], "big")
            pos += width
            if b in _CONTAINER:
                pending += length * _CONTAINER[b][1]
            elif b in _EXT:
                if pos >= n:
                    return truncated
                problem = ext(data[pos], length)
                if problem is not None:
                    return problem
                pos += 1 + length
            else:
                pos += length
        elif b in _FIXEXT:
            if pos >= n:
                return truncated
            problem = ext(data[pos], _FIXEXT[b])
            if problem is not None:
                return problem
            pos += 1 + _FIXEXT[b]
        if pos > n:
            return truncated
    if pos < n:
        return _UNDECODABLE + "trailing bytes after the MessagePack value"
    return None
