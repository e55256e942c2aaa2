"""services.json rows: the JSON fixtures of the TypeScript registry (src/manager/registry/fixtures/)
read the same way, rows written in dcc-mcp-core's field order, timestamps in every form,
addresses as the TypeScript side writes and reads them."""

from __future__ import annotations

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from registry_support import TS_FIXTURES  # noqa: E402

from wirecall.errors import InvalidEndpoint  # noqa: E402
from wirecall.registry_address import address_of, endpoint_of, locality  # noqa: E402
from wirecall.registry_localhost import is_local_host  # noqa: E402
from wirecall.registry_rows import ServiceEntry, key_of, parse_row, row_of, schema_version_of  # noqa: E402
from wirecall.registry_timestamps import from_wire_timestamp, to_wire_timestamp  # noqa: E402


def fixture(name: str) -> list:
    with open(os.path.join(TS_FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def test_dcc_mcp_core_020_rows_every_field():
    maya, houdini = (parse_row(r) for r in fixture("dcc-mcp-core-0.20.json"))
    assert maya.ok and maya.warning is None
    e = maya.entry
    assert (e.dcc_type, e.instance_id, e.host, e.port) == ("maya", "88888888-8888-4888-8888-888888888888", "127.0.0.1", 0)
    assert e.transport_address == {"type": "unix_socket", "path": "/tmp/dcc-mcp/maya-8.sock"}
    assert (e.version, e.scene, e.pid, e.status, e.schema_version) == ("2025.1", "/proj/shot020.ma", 1, "booting", 1)
    assert e.sentinel_path == "/tmp/dcc-mcp-registry/locks/maya-88888888-8888-4888-8888-888888888888.lock"
    assert e.metadata == {"renderer": "arnold"}
    assert e.registered_at == 1712000000.125 and e.last_heartbeat == 1712000060.5
    assert list(e.extra) == [
        "adapter_version", "adapter_dcc", "documents", "host_pid", "display_name", "extras",
        "capacity", "lease_owner", "current_job_id", "lease_expires_at",
    ]
    assert e.extra["extras"] == {"gpu": {"name": "rtx", "mem_gb": 24.5}, "tags": ["a", None, 3]}
    assert e.extra["lease_expires_at"] == 1712000120.75
    assert e.endpoint == "unix:/tmp/dcc-mcp/maya-8.sock"

    h = houdini.entry
    assert h.status == "stale" and h.transport_address is None and h.sentinel_path is None
    assert h.registered_at == pytest.approx(1712000000 + 5e-9, abs=1e-6)
    assert h.last_heartbeat == pytest.approx(1712000060.999999999, abs=1e-6)
    assert h.extra == {}
    assert h.endpoint == "tcp://127.0.0.1:9100"


def test_mixed_formats_lenient_but_strict():
    blender, houdini, maya, nameless, nuke = (parse_row(r) for r in fixture("mixed-formats.json"))
    b = blender.entry
    assert b.schema_version == 0 and b.status == "available" and b.pid is None
    assert (b.registered_at, b.last_heartbeat) == (1712000000.0, 1712000005.0)
    assert b.extra["extras"]["nested"] == {"a": [1, 2, {"b": None}], "flag": True}
    h = houdini.entry
    assert h.transport_address == {"type": "named_pipe", "path": "\\\\.\\pipe\\dcc-mcp-houdini-2"}
    assert h.status == "busy" and h.version is None
    if sys.platform != "win32":
        with pytest.raises(InvalidEndpoint):
            endpoint_of(h)  # a foreign named pipe is never mapped to our private socket dir
    m = maya.entry
    assert m.host == "::1" and m.status == "shutting_down" and m.endpoint == "tcp://[::1]:18813"
    assert m.last_heartbeat == pytest.approx(1712000001.999999999, abs=1e-6)
    assert not nameless.ok and nameless.problem == "dcc_type is missing or not a non-empty string"
    assert nuke.ok and nuke.entry.status == "unreachable"
    assert nuke.warning == 'unknown status "degraded", treated as unreachable'
    assert locality(nuke.entry) == 2 and locality(m) == 1 and locality(b) == 0


def test_schema_v2_rows_are_read():
    v1, v2 = (parse_row(r) for r in fixture("schema-v2.json"))
    assert v1.entry.schema_version == 1 and v2.entry.schema_version == 2
    assert v2.entry.extra == {"capabilities": ["scene.read", "scene.write"]}
    assert [schema_version_of(r) for r in fixture("schema-v2.json")] == [1, 2]


def test_dcc_mcp_core_example_round_trips_exactly():
    (row,) = fixture("dcc-mcp-core-example.json")
    parsed = parse_row(row)
    assert parsed.ok
    again = row_of(parsed.entry)
    assert list(again) == list(row)  # dcc-mcp-core's field order
    # Float seconds keep about 0.2 us at today's dates (the TypeScript side's float ms, the same).
    for field in ("registered_at", "last_heartbeat"):
        assert again[field]["secs_since_epoch"] == row[field]["secs_since_epoch"]
        assert abs(again[field]["nanos_since_epoch"] - row[field]["nanos_since_epoch"]) < 1000
        again[field] = row[field]
    assert again == row
    assert json.dumps(again, indent=2) == json.dumps(row, indent=2)


def test_row_of_puts_extra_fields_last_and_never_overrides_known_ones():
    e = ServiceEntry(
        dcc_type="maya", instance_id="i", host="127.0.0.1", port=1, registered_at=1.5, last_heartbeat=2.25,
        pid=7, sentinel_path="/x/locks/maya-i.lock", transport_address={"type": "tcp", "host": "127.0.0.1", "port": 1},
        extra={"display_name": "M", "status": "busy"},
    )
    row = row_of(e)
    assert list(row) == [
        "schema_version", "dcc_type", "instance_id", "host", "port", "transport_address", "version", "scene",
        "pid", "sentinel_path", "metadata", "registered_at", "last_heartbeat", "status", "display_name",
    ]
    assert row["status"] == "available"
    assert row["registered_at"] == {"secs_since_epoch": 1, "nanos_since_epoch": 500000000}
    assert parse_row(row).entry == ServiceEntry(**{**e.__dict__, "extra": {"display_name": "M"}})


@pytest.mark.parametrize(
    "patch, problem",
    [
        ({"schema_version": -1}, "schema_version is not a non-negative integer"),
        ({"schema_version": 1.5}, "schema_version is not a non-negative integer"),
        ({"instance_id": ""}, "instance_id is missing or not a non-empty string"),
        ({"host": 5}, "host is missing or not a string"),
        ({"port": 65536}, "port is missing or not an integer in 0-65535"),
        ({"port": True}, "port is missing or not an integer in 0-65535"),
        ({"version": 3}, "version is not a string or null"),
        ({"pid": 0}, "pid is not a positive integer"),
        ({"sentinel_path": 1}, "sentinel_path is not a string or null"),
        ({"metadata": []}, "metadata is not a JSON object"),
        ({"registered_at": None, "last_heartbeat": None}, "last_heartbeat and registered_at are both missing"),
        ({"last_heartbeat": "now"}, "last_heartbeat is not a timestamp"),
        ({"registered_at": {"secs_since_epoch": 1, "nanos_since_epoch": 10**9}}, "registered_at is not a timestamp"),
        ({"status": 1}, "status is not a string"),
        ({"transport_address": {"type": "tcp", "host": "", "port": 1}}, "transport_address tcp needs a host and a port"),
        ({"transport_address": {"type": "vsock"}}, 'unknown transport_address type "vsock"'),
    ],
)
def test_malformed_rows_say_why(patch, problem):
    (row,) = fixture("dcc-mcp-core-example.json")
    row.update(patch)
    parsed = parse_row(row)
    assert not parsed.ok and parsed.problem == problem


def test_lenient_defaults():
    # host/port from transport_address; integral floats are integers (as in JavaScript); status defaults.
    row = {"dcc_type": "d", "instance_id": "i", "transport_address": {"type": "tcp", "host": "10.0.0.1", "port": 9.0}, "last_heartbeat": 5}
    e = parse_row(row).entry
    assert (e.host, e.port, e.registered_at, e.status, e.metadata, e.schema_version) == ("10.0.0.1", 9, 5.0, "available", {}, 0)
    ipc = parse_row({"dcc_type": "d", "instance_id": "i", "transport_address": {"type": "unix_socket", "path": "/s"}, "registered_at": 1}).entry
    assert (ipc.host, ipc.port) == ("127.0.0.1", 0)
    assert parse_row({"dcc_type": "d", "instance_id": "i", "host": "h", "port": 1, "registered_at": 1, "sentinel_path": ""}).entry.sentinel_path is None
    assert not parse_row([1]).ok
    assert key_of({"dcc_type": "d", "instance_id": ""}) == ("d", "") and key_of({"dcc_type": "d"}) is None


def test_timestamps():
    assert to_wire_timestamp(1712000000.5) == {"secs_since_epoch": 1712000000, "nanos_since_epoch": 500000000}
    assert to_wire_timestamp(0.9999999999) == {"secs_since_epoch": 1, "nanos_since_epoch": 0}  # the carry
    assert from_wire_timestamp({"secs_since_epoch": 3, "nanos_since_epoch": 250000000}) == 3.25
    assert from_wire_timestamp(7) == 7.0 and from_wire_timestamp(7.5) == 7.5
    for bad in (True, -1, float("nan"), "1", None, [], {"secs_since_epoch": 1}, {"secs_since_epoch": -1, "nanos_since_epoch": 0},
                {"secs_since_epoch": 1.5, "nanos_since_epoch": 0}):
        assert from_wire_timestamp(bad) is None, bad


def test_addresses_as_typescript_writes_them(tmp_path, monkeypatch):
    assert address_of("tcp://127.0.0.1:9000") == ("127.0.0.1", 9000, {"type": "tcp", "host": "127.0.0.1", "port": 9000})
    assert address_of("[::1]:9000") == ("::1", 9000, {"type": "tcp", "host": "::1", "port": 9000})
    assert address_of({"kind": "tcp", "host": "localhost", "port": 1}) == ("localhost", 1, {"type": "tcp", "host": "localhost", "port": 1})
    assert address_of("unix:/run/x.sock") == ("127.0.0.1", 0, {"type": "unix_socket", "path": "/run/x.sock"})
    if sys.platform != "win32":
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        assert address_of("pipe://maya") == ("127.0.0.1", 0, {"type": "unix_socket", "path": str(tmp_path / "wirecall" / "maya.sock")})
    with pytest.raises(InvalidEndpoint):
        address_of("tcp://[::1]")
    with pytest.raises(InvalidEndpoint):
        address_of({"kind": "smoke"})
    with pytest.raises(InvalidEndpoint):
        endpoint_of(ServiceEntry(dcc_type="d", instance_id="i", host="127.0.0.1", port=0))


def test_local_hosts():
    import socket

    for h in ("127.0.0.1", "127.9.9.9", "::1", "localhost", "0.0.0.0", "::", "::ffff:127.0.0.1", socket.gethostname().upper()):
        assert is_local_host(h), h
    assert not is_local_host("192.0.2.77")  # TEST-NET-1, never ours
