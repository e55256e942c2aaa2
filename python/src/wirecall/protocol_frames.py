"""Framing, sans-IO: a frame is ``[u32 BE length][payload]``; ``FrameDecoder`` cuts a byte
stream into payloads, checking each length against the frame limit before buffering the
payload. ``protocol`` re-exports all of it (docs/PROTOCOL.md 2)."""

from __future__ import annotations

import struct
from typing import Any, Iterator, List, Union

from .errors import FrameTooLarge

__all__ = ["HEADER_SIZE", "DEFAULT_MAX_FRAME_SIZE", "Buffer", "FrameDecoder"]

HEADER_SIZE = 4
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024

_HEADER = struct.Struct(">I")

#: A frame's payload as the decoder hands it on: bytes, or a view into the bytes read.
Buffer = Union[bytes, bytearray, memoryview]


class FrameDecoder:
    """Splits a byte stream into frame payloads: ``[u32 BE length][payload]``.

    The length is checked against ``max_frame_size`` as soon as its 4 bytes are in, before
    any payload is buffered (FrameTooLarge). A length-0 frame is handed on as an empty
    payload, which decode_payload refuses (``empty frame``). ``max_frame_size`` may change
    between feeds (after the handshake).
    """

    __slots__ = ("max_frame_size", "_buf", "_pending", "_pos")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._pending: bytes = b""
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for the rest of it."""
        return len(self._buf)

    def feed(self, data: bytes) -> List[bytes]:
        """Every complete frame in the bytes so far (the limit is checked at each prefix)."""
        self.push(data)
        return [bytes(p) for p in self.frames()]

    def push(self, data: bytes) -> None:
        """Adds bytes; take the frames out with :meth:`frames`."""
        if self._buf:
            self._buf += data
        else:
            self._pending = data
            self._pos = 0

    def frames(self) -> Iterator[Buffer]:
        """Yields the complete frames one by one. ``max_frame_size`` is read at each length
        prefix, so a limit changed between two frames (after the handshake) applies to the next.
        A frame from bytes pushed as a memoryview is a view into them, not a copy: use it before
        the next push (the connection decodes each at once; ``feed`` copies)."""
        buf = self._buf
        src: Any = buf if buf else self._pending
        view = type(src) is memoryview  # slices of it are views; of the buffer, copies (it is cut below)
        pos = 0
        end = len(src)
        unpack_from = _HEADER.unpack_from
        try:
            while end - pos >= 4:
                (size,) = unpack_from(src, pos)
                if size > self.max_frame_size:
                    self._buf = bytearray()
                    self._pending = b""
                    src = b""
                    pos = end = 0
                    raise FrameTooLarge(size, self.max_frame_size)
                if end - pos - 4 < size:
                    break
                start = pos + 4
                pos = start + size
                yield src[start:pos] if view else bytes(src[start:pos])
        finally:
            if src is buf:
                del buf[:pos]
            elif pos < end:
                self._buf = bytearray(src[pos:])
            self._pending = b""
