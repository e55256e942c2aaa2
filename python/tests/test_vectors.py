"""spec/vectors.json (the byte vectors of docs/PROTOCOL.md) against the Python codec."""

from __future__ import annotations

import json
from typing import Any, List

import pytest

from wirecall import protocol as P

from conftest import VECTORS

FILE = json.loads(VECTORS.read_text(encoding="utf-8"))
VECTORS_LIST = FILE["vectors"]


def from_json(value: Any) -> Any:
    """The file's JSON convention → Python values: $bin → bytes, $int64 → int, $float → float."""
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bin"), str):
            return bytes.fromhex(value["$bin"])
        if len(value) == 1 and isinstance(value.get("$int64"), str):
            return int(value["$int64"])
        if len(value) == 1 and "$float" in value:
            return float(value["$float"])
        return {k: from_json(v) for k, v in value.items()}
    return value


def frame(v: dict) -> bytes:
    return bytes.fromhex(v["hex"].replace(" ", ""))


def has_map(value: Any) -> bool:
    if isinstance(value, dict):
        return True
    if isinstance(value, list):
        return any(has_map(v) for v in value)
    return False


def test_file_holds_vectors_with_unique_names() -> None:
    names = [v["name"] for v in VECTORS_LIST]
    assert len(names) == 57
    assert len(set(names)) == len(names)


def test_every_message_type_has_a_vector() -> None:
    types = {from_json(v["message"])[0] for v in VECTORS_LIST}
    assert types == set(P.MESSAGE_NAMES)


@pytest.mark.parametrize("v", VECTORS_LIST, ids=[v["name"] for v in VECTORS_LIST])
def test_vector_decodes_to_its_message(v: dict) -> None:
    data = frame(v)
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    message = P.decode_payload(data[4:])
    assert message == from_json(v["message"])
    assert P.MESSAGE_NAMES[message[0]] == v["type"]


@pytest.mark.parametrize("v", VECTORS_LIST, ids=[v["name"] for v in VECTORS_LIST])
def test_vector_encodes_from_its_message(v: dict) -> None:
    """Python writes maps as fixmap where the reference writes map 16 (PROTOCOL.md 3.1):
    vectors without a map must match byte for byte; the others must round-trip and differ
    only in those map headers (same length minus 2 bytes per map)."""
    message = from_json(v["message"])
    encoded = P.pack_frame(message)
    data = frame(v)
    if not has_map(message):
        assert encoded == data
    else:
        assert P.decode_payload(encoded[4:]) == message
        assert len(encoded) == len(data) - 2 * _small_maps(message)
        assert P.pack(P.unpack_payload(data[4:])) == encoded[4:]


def _small_maps(value: Any) -> int:
    """Maps of fewer than 16 entries: 3 header bytes from the reference (map 16), 1 from Python (fixmap)."""
    if isinstance(value, dict):
        return (len(value) < 16) + sum(_small_maps(v) for v in value.values())
    if isinstance(value, list):
        return sum(_small_maps(v) for v in value)
    return 0


def test_conversation_splits_back_into_its_messages() -> None:
    conv = [v for v in VECTORS_LIST if v["name"].startswith("conv-")]
    stream = b"".join(frame(v) for v in conv)
    expected = [from_json(v["message"]) for v in conv]
    for chunk in (1, 3, 7, len(stream)):
        d = P.FrameDecoder(64 * 1024)
        got: List[Any] = []
        for i in range(0, len(stream), chunk):
            got += [P.decode_payload(p) for p in d.feed(stream[i : i + chunk])]
        assert got == expected
        assert d.buffered == 0
