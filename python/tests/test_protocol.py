"""The sans-IO wire: framing and its limits, MessagePack checks, message validation."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from wirecall import FrameTooLarge, ProtocolError
from wirecall import protocol as P

HELLO = {
    "protocol": "wirecall",
    "versions": [1],
    "peerName": "demo-client",
    "peerVersion": "0.3.0",
    "maxFrameSize": 16 * 1024 * 1024,
    "heartbeatMs": 5000,
}
BODY = {"name": "Error", "message": "boom"}


def decode_value(value: Any) -> Any:
    return P.decode_payload(msgpack.packb(value, use_bin_type=True))


# The malformed cases of src/wire/native-vectors.test.ts, each a ProtocolError here too.
MALFORMED = [
    ("a map instead of an array", {"type": 16}),
    ("a bare integer", 48),
    ("an empty array", []),
    ("a string type", ["ping", 1]),
    ("a nil type", [None, 1]),
    ("HELLO without its map", [1]),
    ("HELLO with an extra element", [1, HELLO, 1]),
    ("REJECT without a message", [3, "PROTOCOL"]),
    ("CALL without timeoutMs", [16, 1, "add", {}]),
    ("CALL with an extra element", [16, 1, "add", {}, None, None]),
    ("RESULT without a result", [17, 1]),
    ("ERROR without a body", [18, 1, 2]),
    ("CANCEL with an extra element", [19, 1, 2]),
    ("NOTIFY without params", [20, "log"]),
    ("PING without a nonce", [48]),
    ("SHUTDOWN without a reason", [50]),
    ("HELLO whose body is an array", [1, ["wirecall"]]),
    ("HELLO without protocol", [1, {k: v for k, v in HELLO.items() if k != "protocol"}]),
    ("HELLO with a nil protocol", [1, dict(HELLO, protocol=None)]),
    ("HELLO with a string version", [1, dict(HELLO, versions=["1"])]),
    ("HELLO with a bin peerName", [1, dict(HELLO, peerName=b"x")]),
    ("HELLO with a numeric token", [1, dict(HELLO, token=42)]),
    ("HELLO with a negative maxFrameSize", [1, dict(HELLO, maxFrameSize=-1)]),
    ("HELLO with maxFrameSize over 2^32-1", [1, dict(HELLO, maxFrameSize=2**32)]),
    ("HELLO with a zero streamWindowMessages", [1, dict(HELLO, streamWindowMessages=0)]),
    ("WELCOME whose body is nil", [2, None]),
    ("CALL with a string id", [16, "1", "add", {}, None]),
    ("CALL with a negative id", [16, -1, "add", {}, None]),
    ("CALL with an id over 2^32-1", [16, 2**32, "add", {}, None]),
    ("CALL with a fractional id", [16, 1.5, "add", {}, None]),
    ("CALL with a bin method", [16, 1, b"add", {}, None]),
    ("CALL with a string timeout", [16, 1, "add", {}, "100"]),
    ("CALL with an infinite timeout", [16, 1, "add", {}, float("inf")]),
    ("ERROR with status 0", [18, 1, 0, BODY]),
    ("ERROR body without a message", [18, 1, 2, {"name": "Error"}]),
    ("ERROR body with a numeric code", [18, 1, 2, dict(BODY, code=2)]),
    ("ERROR with an array body", [18, 1, 2, ["Error", "boom"]]),
    ("NOTIFY with a numeric method", [20, 1, None]),
    ("PONG with a string nonce", [49, "x"]),
    ("SHUTDOWN with a numeric reason", [50, 1]),
    ("type 0", [0]),
    ("type 4", [4, 1]),
    ("STREAM_OPEN without its window", [32, 1, "count", None, None, 1]),
    ("STREAM_OPEN of kind 4", [32, 1, "count", None, None, 4, 16, 1024]),
    ("STREAM_OPEN with a zero byte window", [32, 1, "count", None, None, 1, 16, 0]),
    ("CALLER_CREDIT with a negative grant", [35, 1, -1, 10]),
    ("HANDLER_CREDIT without bytes", [37, 1, 1]),
    ("reserved stream type 38", [38, 1]),
    ("type 99", [99]),
    ("type -1", [-1]),
    ("a fractional type", [16.5, 1, "add", {}, None]),
]


@pytest.mark.parametrize("what,value", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_messages_raise_protocol_error(what: str, value: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_value(value)


def test_errors_name_the_problem_as_the_reference_does() -> None:
    cases = [
        ([16, 1, "add", {}], "malformed CALL message"),
        ([32, 1], "malformed STREAM_OPEN message"),
        ([40, 1], "stream message type 40 is reserved and not supported by this peer"),
        ([99], "unknown message type 99"),
        ({}, "frame is not a wirecall message (expected an array starting with a type number)"),
    ]
    for value, text in cases:
        with pytest.raises(ProtocolError) as info:
            decode_value(value)
        assert str(info.value) == text
        assert info.value.code == "ERR_PROTOCOL"


@pytest.mark.parametrize(
    "payload,text",
    [
        ("", "empty frame"),
        ("92 30 00 00", "undecodable MessagePack payload: trailing bytes after the MessagePack value"),
        ("92 30", "undecodable MessagePack payload: truncated MessagePack"),
        ("95 10 01 a3 61 64", "undecodable MessagePack payload: truncated MessagePack"),
        ("c1", "undecodable MessagePack payload: reserved byte 0xc1"),
        ("93 11 01 d4 05 00", "extension type 5 is not allowed (only the timestamp extension, -1)"),
        ("93 11 01 c7 01 72 00", "extension type 114 is not allowed (only the timestamp extension, -1)"),
        ("93 11 01 d4 ff 00", "timestamp extension (-1) of length 1 is not allowed (only 4, 8 or 12)"),
        ("00 00 00 03 92 30 00", None),
        ("93 11 01 c7 03 ff 00 00 00", "timestamp extension (-1) of length 3 is not allowed (only 4, 8 or 12)"),
        ("93 11 01 91 81 a1 61 d5 07 00 00", "extension type 7 is not allowed (only the timestamp extension, -1)"),
        ("93 11 01 a5 61 62", "undecodable MessagePack payload: truncated MessagePack"),
        ("93 11 01 c4", "undecodable MessagePack payload: truncated MessagePack"),
        ("93 11 01 dc 00 02 01 c1", "undecodable MessagePack payload: reserved byte 0xc1"),
        ("93 11 01 c0 c0", "undecodable MessagePack payload: trailing bytes after the MessagePack value"),
    ],
)
def test_bad_payloads(payload: str, text: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        P.decode_payload(bytes.fromhex(payload.replace(" ", "")))
    if text is not None:  # the same words whatever msgpack build decodes (C or pure Python, 1.0-1.2)
        assert str(info.value) == text


def test_timestamps_are_accepted_in_values() -> None:
    m = P.decode_payload(bytes.fromhex("931101d6ff00000001"))
    assert m[0] == 17 and m[2] == msgpack.Timestamp(1)


def test_any_integer_width_decodes_alike() -> None:
    expected = [16, 9, "echo", {"a": 1}, 100]
    for form in [
        "95 10 09 a4 65 63 68 6f 81 a1 61 01 64",
        "95 10 09 a4 65 63 68 6f de 00 01 a1 61 01 64",
        "dc 00 05 10 09 a4 65 63 68 6f 81 a1 61 01 64",
        "95 10 09 d9 04 65 63 68 6f 81 a1 61 01 64",
        "95 cc 10 ce 00 00 00 09 a4 65 63 68 6f 81 a1 61 01 cd 00 64",
        "95 d0 10 d2 00 00 00 09 a4 65 63 68 6f 81 a1 61 01 d1 00 64",
        "95 10 cf 00 00 00 00 00 00 00 09 a4 65 63 68 6f 81 a1 61 01 d3 00 00 00 00 00 00 00 64",
    ]:
        assert P.decode_payload(bytes.fromhex(form.replace(" ", ""))) == expected


def test_element_limit() -> None:
    ok = [17, 1, list(range(99_996))]  # 1 + 3 + 99 996 = 100 000 elements
    assert P.decode_payload(msgpack.packb(ok))[1] == 1
    with pytest.raises(ProtocolError, match="more than 100000 elements"):
        P.decode_payload(msgpack.packb([17, 1, list(range(99_997))]))
    with pytest.raises(ProtocolError, match="more than 8 elements"):
        P.decode_payload(msgpack.packb([17, 1, {"a": [1, 2, 3]}]), max_elements=8)  # it holds 9


def test_depth_limit() -> None:
    value: Any = 0
    for _ in range(63):
        value = [value]
    assert P.decode_payload(msgpack.packb([17, 1, value]))  # 64 levels with the message
    with pytest.raises(ProtocolError, match="nests deeper than 64"):
        P.decode_payload(msgpack.packb([17, 1, [value]]))


def test_map_with_a_container_key_is_undecodable() -> None:
    with pytest.raises(ProtocolError, match="undecodable MessagePack payload"):
        P.decode_payload(bytes.fromhex("93 11 01 81 91 01 02".replace(" ", "")))


class TestFrameDecoder:
    def test_reassembles_frames_from_any_chunking(self) -> None:
        frames = [P.pack_frame([48, i]) for i in range(50)] + [P.pack_frame([17, 1, b"x" * 1000])]
        stream = b"".join(frames)
        for chunk in (1, 2, 5, 64, len(stream)):
            d = P.FrameDecoder()
            got = []
            for i in range(0, len(stream), chunk):
                got += d.feed(stream[i : i + chunk])
            assert [P.decode_payload(p) for p in got] == [P.decode_payload(f[4:]) for f in frames]
            assert d.buffered == 0

    def test_accepts_exactly_the_limit_and_refuses_one_more_from_the_prefix_alone(self) -> None:
        d = P.FrameDecoder(3)
        assert d.feed(bytes.fromhex("00000003923000")) == [b"\x92\x30\x00"]
        with pytest.raises(FrameTooLarge) as info:
            P.FrameDecoder(3).feed(b"\x00\x00\x00\x04")
        assert str(info.value) == "incoming frame of 4 bytes exceeds the limit of 3 bytes"
        assert info.value.code == "ERR_FRAME_TOO_LARGE"

    def test_refuses_an_oversize_prefix_before_any_payload(self) -> None:
        d = P.FrameDecoder(65536)
        d.feed(b"\x00\x01")
        with pytest.raises(FrameTooLarge, match="incoming frame of 70000 bytes exceeds the limit of 65536 bytes"):
            d.feed((70000).to_bytes(4, "big")[2:])

    def test_a_zero_length_frame_is_an_empty_payload_which_decoding_refuses(self) -> None:
        (payload,) = P.FrameDecoder().feed(b"\x00\x00\x00\x00")
        with pytest.raises(ProtocolError, match="empty frame"):
            P.decode_payload(payload)


def test_frames_of_a_memoryview_are_views_and_feed_copies() -> None:
    """The connection reads into one buffer and hands the decoder a view of it: the frames
    are views of that buffer (decoded before the next read), while feed() returns bytes."""
    data = P.pack_frame([P.PING, 1]) + P.pack_frame([P.PONG, 2]) + P.pack_frame([P.PING, 3])[:3]
    buf = bytearray(data)
    d = P.FrameDecoder()
    d.push(memoryview(buf))
    frames = list(d.frames())
    assert [type(f) for f in frames] == [memoryview, memoryview]
    assert [P.decode_payload(f) for f in frames] == [[P.PING, 1], [P.PONG, 2]]
    del frames
    buf[:] = b"\xff" * len(buf)  # the buffer is reused for the next read: the partial frame was copied
    assert d.feed(P.pack_frame([P.PING, 3])[3:]) == [P.pack([P.PING, 3])]
    assert all(type(f) is bytes for f in P.FrameDecoder().feed(memoryview(P.pack_frame([P.PING, 4]))))
