"""FileRegistry in one process: register / heartbeat / status / deregister / prune, foreign rows
kept exactly, newer schemas left alone, corrupt and empty files, the directory rules."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from registry_support import TS_FIXTURES, read_rows  # noqa: E402

from wirecall.errors import InvalidEndpoint, InvalidOption  # noqa: E402
from wirecall.registry import (  # noqa: E402
    FileRegistry,
    Registration,
    default_registry_dir,
    ensure_registry_dir,
    shared_registry_dir,
)
from wirecall.registry_errors import (  # noqa: E402
    RegistryFileError,
    SerializationError,
    ServiceAlreadyRegistered,
    ShutdownError,
)
from wirecall.registry_sentinel import holds_sentinel, probe_sentinel  # noqa: E402


@pytest.fixture
def warnings_seen():
    return []


@pytest.fixture
def reg(tmp_path, warnings_seen):
    r = FileRegistry(str(tmp_path), on_warning=warnings_seen.append)
    yield r
    for e, _ in list(r.list_with_liveness()) if not r._closed else []:
        if e.pid == os.getpid():
            r.deregister(e.dcc_type, e.instance_id)
    r.close()


def copy_fixture(name: str, directory) -> list:
    shutil.copy(os.path.join(TS_FIXTURES, name), os.path.join(str(directory), "services.json"))
    with open(os.path.join(TS_FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def test_register_list_heartbeat_status_deregister(reg, tmp_path):
    e = reg.register("maya", "tcp://127.0.0.1:18812", version="2025.1", scene="/a.ma", metadata={"gpu": "2"})
    assert e.pid == os.getpid() and e.status == "available" and len(e.instance_id) == 36
    assert e.sentinel_path == str(tmp_path / "locks" / f"maya-{e.instance_id}.lock")
    assert holds_sentinel(e.sentinel_path) and probe_sentinel(e.sentinel_path) == "held"
    assert [x.instance_id for x in reg.list_instances("maya")] == [e.instance_id]
    assert reg.list_instances("houdini") == []
    (row,) = read_rows(str(tmp_path))
    assert row["transport_address"] == {"type": "tcp", "host": "127.0.0.1", "port": 18812}
    assert row["sentinel_path"] == e.sentinel_path and row["metadata"] == {"gpu": "2"}

    before = reg.get("maya", e.instance_id).last_heartbeat
    time.sleep(0.01)
    assert reg.heartbeat("maya", e.instance_id)
    assert reg.get("maya", e.instance_id).last_heartbeat > before
    assert reg.set_status("maya", e.instance_id, "busy")
    assert reg.get("maya", e.instance_id).status == "busy"
    with pytest.raises(InvalidOption):
        reg.set_status("maya", e.instance_id, "asleep")

    assert reg.deregister("maya", e.instance_id)
    assert not reg.deregister("maya", e.instance_id)
    assert not reg.heartbeat("maya", e.instance_id) and not reg.set_status("maya", e.instance_id, "busy")
    assert not os.path.exists(e.sentinel_path) and not holds_sentinel(e.sentinel_path)
    assert read_rows(str(tmp_path)) == []


def test_ipc_rows_and_given_ids(reg):
    a = reg.register("blender", "unix:/tmp/blender-1.sock", instance_id="fixed-id", extra={"display_name": "B", "port": 9})
    assert (a.host, a.port, a.transport_address) == ("127.0.0.1", 0, {"type": "unix_socket", "path": "/tmp/blender-1.sock"})
    assert a.extra == {"display_name": "B"}  # known field names are ignored in extra
    assert a.endpoint == "unix:/tmp/blender-1.sock"
    with pytest.raises(ServiceAlreadyRegistered):
        reg.register("blender", "unix:/tmp/other.sock", instance_id="fixed-id", pid=1)


def test_same_id_again_in_this_process_is_refused_while_live(reg):
    a = reg.register("maya", "tcp://127.0.0.1:1000")
    with pytest.raises(ServiceAlreadyRegistered):
        reg.register("maya", "tcp://127.0.0.1:1001", instance_id=a.instance_id)
    assert holds_sentinel(a.sentinel_path)  # the refused attempt did not drop our sentinel


def test_bad_arguments(reg):
    for kwargs in ({"status": "napping"}, {"pid": 0}, {"pid": True}, {"version": 1}, {"scene": 2}, {"instance_id": " "}):
        with pytest.raises(InvalidOption):
            reg.register("maya", "tcp://127.0.0.1:1", **kwargs)
    with pytest.raises(InvalidOption):
        reg.register(" ", "tcp://127.0.0.1:1")
    with pytest.raises(InvalidOption):
        reg.register("maya", "tcp://127.0.0.1:0")
    with pytest.raises(InvalidEndpoint):
        reg.register("maya", "tcp://nowhere")
    with pytest.raises(SerializationError):
        reg.register("maya", "tcp://127.0.0.1:1", metadata={"x": object()})
    with pytest.raises(SerializationError):
        reg.register("maya", "tcp://127.0.0.1:1", metadata={"x": float("nan")})
    # dcc-mcp-core reads metadata as strings; anything else would make it drop the whole file.
    with pytest.raises(InvalidOption, match=r"metadata\.gpus must be a string"):
        reg.register("maya", "tcp://127.0.0.1:1", metadata={"gpus": [0, 1]})  # type: ignore[dict-item]
    assert reg.list_all() == [] and not os.path.exists(os.path.join(reg.dir, "locks"))


def test_rows_for_another_pid_get_no_sentinel_and_die_with_it(reg, tmp_path):
    e = reg.register("maya", "tcp://127.0.0.1:2000", pid=2**22 + 12345)  # far above pid_max's default: dead
    assert e.sentinel_path is None and "sentinel_path" not in read_rows(str(tmp_path))[0]
    assert reg.list_all() == []
    assert [lv for _, lv in reg.list_with_liveness()] == ["dead"]
    assert reg.prune() == 1 and read_rows(str(tmp_path)) == []


def test_stale_rows(tmp_path, warnings_seen):
    reg = FileRegistry(str(tmp_path), stale_after=0.2, on_warning=warnings_seen.append)
    e = reg.register("maya", "tcp://127.0.0.1:3000", pid=1)  # pid 1 lives
    assert [lv for _, lv in reg.list_with_liveness()] == ["live"]
    time.sleep(0.3)
    assert [lv for _, lv in reg.list_with_liveness()] == ["stale"] and reg.list_all() == []
    assert reg.heartbeat("maya", e.instance_id)  # a stale row becomes live again
    assert [x.instance_id for x in reg.list_all()] == [e.instance_id]
    time.sleep(0.3)
    again = reg.register("maya", "tcp://127.0.0.1:3001", instance_id=e.instance_id, pid=1)  # replaces the stale row
    assert [r["port"] for r in read_rows(str(tmp_path))] == [3001] and again.port == 3001
    time.sleep(0.3)
    assert reg.prune() == 1


def test_foreign_rows_survive_every_write_exactly(reg, tmp_path):
    original = copy_fixture("dcc-mcp-core-0.20.json", tmp_path)
    original_text = json.dumps(original)
    e = reg.register("maya", "tcp://127.0.0.1:4000")
    assert reg.heartbeat("maya", e.instance_id) and reg.set_status("maya", e.instance_id, "busy")
    rows = read_rows(str(tmp_path))
    assert json.dumps(rows[:2]) == json.dumps(original)  # same values, same key order, same place
    assert reg.deregister("maya", e.instance_id)
    assert json.dumps(read_rows(str(tmp_path))) == original_text

    # heartbeat/status of a foreign row changes that field only
    foreign = original[0]["instance_id"]
    assert reg.set_status("maya", foreign, "available")
    rows = read_rows(str(tmp_path))
    assert list(rows[0]) == list(original[0]) and rows[0]["status"] == "available"
    assert {k: v for k, v in rows[0].items() if k != "status"} == {k: v for k, v in original[0].items() if k != "status"}
    assert reg.heartbeat("houdini", original[1]["instance_id"])
    rows = read_rows(str(tmp_path))
    assert rows[1]["last_heartbeat"] != original[1]["last_heartbeat"] and list(rows[1]) == list(original[1])


def test_malformed_rows_are_skipped_with_one_warning_but_kept(reg, tmp_path, warnings_seen):
    original = copy_fixture("mixed-formats.json", tmp_path)
    listed = reg.list_with_liveness()
    assert sorted(e.dcc_type for e, _ in listed) == ["blender", "houdini", "maya", "nuke"]
    reg.list_with_liveness()
    malformed = [w for w in warnings_seen if w.startswith("skipping a malformed row")]
    assert len(malformed) == 1 and "dcc_type is missing" in malformed[0]
    assert any('unknown status "degraded"' in w for w in warnings_seen)
    assert reg.prune() >= 1  # dead, stale and foreign-host rows alike (fixture heartbeats are from 2024)
    rows = read_rows(str(tmp_path))
    assert rows == [original[3]]  # the malformed row is not ours to delete


def test_newer_schema_file_is_never_rewritten(reg, tmp_path):
    copy_fixture("schema-v2.json", tmp_path)
    path = os.path.join(str(tmp_path), "services.json")
    with open(path, "rb") as f:
        before = f.read()
    assert len(reg.list_with_liveness()) == 2
    with pytest.raises(RegistryFileError, match="schema_version 2, newer than the 1"):
        reg.register("maya", "tcp://127.0.0.1:5000")
    with pytest.raises(RegistryFileError):
        reg.heartbeat("maya", "66666666-6666-4666-8666-666666666666")
    assert not reg.deregister("maya", "absent")  # nothing to change: no write, no error
    with open(path, "rb") as f:
        assert f.read() == before
    assert os.listdir(os.path.join(str(tmp_path), "locks")) == []  # the refused registration let go of its sentinel


def test_corrupt_file_is_moved_aside_and_empty_file_is_empty(reg, tmp_path, warnings_seen):
    path = os.path.join(str(tmp_path), "services.json")
    with open(path, "w") as f:
        f.write("  \n")
    assert reg.list_all() == []
    assert warnings_seen == []
    with open(path, "w") as f:
        f.write('[{"dcc_type": "maya", ')
    assert reg.list_all() == []
    aside = [n for n in os.listdir(str(tmp_path)) if n.startswith("services.json.corrupted-")]
    assert len(aside) == 1 and any("was corrupt" in w for w in warnings_seen)
    with open(path, "wb") as f:
        f.write(b"\x00" * 16)
    e = reg.register("maya", "tcp://127.0.0.1:6000")
    assert [r["instance_id"] for r in read_rows(str(tmp_path))] == [e.instance_id]
    assert len([n for n in os.listdir(str(tmp_path)) if "corrupted" in n]) == 2
    with open(path, "w") as f:
        f.write('{"not": "an array"}')
    assert reg.list_all() == []
    with open(path, "w") as f:
        f.write("[NaN]")  # JSON.parse refuses it: so do we
    assert reg.list_all() == []
    assert len([n for n in os.listdir(str(tmp_path)) if "corrupted" in n]) == 4


def test_duplicate_keys_freshest_heartbeat_wins(reg, tmp_path):
    (row,) = json.load(open(os.path.join(TS_FIXTURES, "dcc-mcp-core-example.json")))
    newer = dict(row, port=18899, last_heartbeat={"secs_since_epoch": 1712000001, "nanos_since_epoch": 0})
    with open(os.path.join(str(tmp_path), "services.json"), "w") as f:
        json.dump([row, newer], f)
    (e,) = [e for e, _ in reg.list_with_liveness()]
    assert e.port == 18899


def test_temp_files_of_dead_writers_are_removed(tmp_path):
    reg = FileRegistry(str(tmp_path), lock_stale=2)
    old = os.path.join(str(tmp_path), "services.json.123456")
    fresh = os.path.join(str(tmp_path), "services.json.654321")
    other = os.path.join(str(tmp_path), ".tmp.42.services.json")  # dcc-mcp-core's: not ours to judge
    for p in (old, fresh, other):
        open(p, "w").close()
    os.utime(old, (time.time() - 60, time.time() - 60))
    e = reg.register("maya", "tcp://127.0.0.1:7000")
    assert not os.path.exists(old) and os.path.exists(fresh) and os.path.exists(other)
    reg.deregister("maya", e.instance_id)


def test_our_writes_leave_no_temp_files_and_keep_the_file_mode(reg, tmp_path):
    path = os.path.join(str(tmp_path), "services.json")
    with open(path, "w") as f:
        f.write("[]")
    os.chmod(path, 0o640)
    e = reg.register("maya", "tcp://127.0.0.1:7100")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    names = sorted(os.listdir(str(tmp_path)))
    assert names == ["locks", "services.json", "services.lock"]  # services.json.lock removed after each write
    with open(path, "rb") as f:
        text = f.read().decode()
    assert text.endswith("}\n]\n") and text.startswith('[\n  {\n    "schema_version": 1,')
    reg.deregister("maya", e.instance_id)


def test_close_refuses_later_calls(tmp_path):
    reg = FileRegistry(str(tmp_path))
    reg.close()
    with pytest.raises(ShutdownError):
        reg.list_all()
    with FileRegistry(str(tmp_path)) as r2:
        assert r2.list_all() == []
    with pytest.raises(ShutdownError):
        r2.register("maya", "tcp://127.0.0.1:1")


def test_threads_of_one_process(reg, tmp_path):
    ids = []
    errors = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                e = reg.register(f"dcc-{i}", f"tcp://127.0.0.1:{8000 + i * 10 + j}", pid=1)
                ids.append(e.instance_id)
                assert reg.heartbeat(e.dcc_type, e.instance_id)
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(r["instance_id"] for r in read_rows(str(tmp_path))) == sorted(ids) and len(ids) == 40


def test_registration_heartbeats_and_comes_back(tmp_path, warnings_seen):
    reg = FileRegistry(str(tmp_path), on_warning=warnings_seen.append)
    with reg.keep_registered("houdini", "tcp://127.0.0.1:9100", interval=0.05, scene="/s.hip") as live:
        assert isinstance(live, Registration) and live.endpoint == "tcp://127.0.0.1:9100"
        first = reg.get("houdini", live.instance_id).last_heartbeat
        time.sleep(0.2)
        assert reg.get("houdini", live.instance_id).last_heartbeat > first
        # Someone pruned it (say, after a long pause): it is registered again under the same id.
        with open(os.path.join(str(tmp_path), "services.json"), "w") as f:
            f.write("[]")
        deadline = time.time() + 5
        while reg.get("houdini", live.instance_id) is None and time.time() < deadline:
            time.sleep(0.02)
        assert reg.get("houdini", live.instance_id).scene == "/s.hip"
    assert read_rows(str(tmp_path)) == []
    assert not live.close()  # idempotent
    assert warnings_seen == []


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("WIRECALL_REGISTRY_DIR", raising=False)
    monkeypatch.delenv("DCC_MCP_REGISTRY_DIR", raising=False)
    assert default_registry_dir() == shared_registry_dir()
    assert shared_registry_dir().endswith(os.sep + "dcc-mcp-registry")
    monkeypatch.setenv("DCC_MCP_REGISTRY_DIR", str(tmp_path / "b"))
    assert default_registry_dir() == str(tmp_path / "b")
    monkeypatch.setenv("WIRECALL_REGISTRY_DIR", "")
    assert default_registry_dir() == str(tmp_path / "b")  # empty counts as unset
    monkeypatch.setenv("WIRECALL_REGISTRY_DIR", str(tmp_path / "a"))
    assert default_registry_dir() == str(tmp_path / "a")
    assert FileRegistry().dir == str(tmp_path / "a")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_unsafe_default_directory_is_refused(monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = shared_registry_dir()
    assert shared == str(tmp_path / "dcc-mcp-registry")
    ensure_registry_dir(shared)
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o700
    os.chmod(shared, 0o777)
    with pytest.raises(RegistryFileError, match="lets group/other write"):
        ensure_registry_dir(shared)
    os.rmdir(shared)
    os.symlink(str(tmp_path), shared)
    with pytest.raises(RegistryFileError, match="symlink"):
        FileRegistry(shared).list_all()
    ensure_registry_dir(str(tmp_path / "chosen"))  # a directory given explicitly is trusted


def test_infinite_durations(tmp_path):
    import math

    reg = FileRegistry(str(tmp_path), stale_after=math.inf, lock_stale=math.inf, lock_timeout=math.inf)
    e = reg.register("maya", "tcp://127.0.0.1:7200", pid=1)
    assert reg.heartbeat("maya", e.instance_id) and [x.instance_id for x in reg.list_all()] == [e.instance_id]
    for bad in (0, -1, float("nan"), True, "5"):
        with pytest.raises(InvalidOption):
            FileRegistry(str(tmp_path), stale_after=bad)
