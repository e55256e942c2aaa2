"""Sentinels between real processes: a registrant holds its sentinel while it lives; once it
is SIGKILLed the sentinel is free and its row dead, whatever its pid says; a held sentinel
keeps a row alive whatever its pid says; without a sentinel the pid decides."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from registry_support import Children, read_rows  # noqa: E402

from wirecall.registry import FileRegistry, sentinel_path_for  # noqa: E402
from wirecall.registry_errors import ServiceAlreadyRegistered  # noqa: E402
from wirecall.registry_sentinel import hold_sentinel, probe_sentinel, release_sentinel  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def children():
    c = Children()
    yield c
    c.cleanup()


def rewrite_row(d: str, instance_id: str, **fields) -> None:
    path = os.path.join(d, "services.json")
    rows = read_rows(d)
    for r in rows:
        if r["instance_id"] == instance_id:
            r.update(fields)
    with open(path, "w") as f:
        json.dump(rows, f)


def liveness(reg: FileRegistry, instance_id: str) -> str:
    for e, lv in reg.list_with_liveness():
        if e.instance_id == instance_id:
            return lv
    return "absent"


def test_sigkilled_registrant_is_dead_and_pruned_with_its_sentinel(tmp_path, children):
    d = str(tmp_path)
    child = children.registrant(d, "houdini", "tcp://127.0.0.1:18900")
    _, instance_id, sentinel = child.expect("READY ").split()
    assert sentinel == sentinel_path_for(d, "houdini", instance_id)
    reg = FileRegistry(d)
    assert probe_sentinel(sentinel) == "held"
    assert [e.instance_id for e in reg.list_instances("houdini")] == [instance_id]
    (e,) = reg.list_all()
    assert e.pid == child.pid and e.sentinel_path == sentinel and e.endpoint == "tcp://127.0.0.1:18900"

    child.kill()
    assert probe_sentinel(sentinel) == "free" and os.path.exists(sentinel)
    rewrite_row(d, instance_id, pid=os.getpid())  # a live (reused) pid does not fool the sentinel
    assert liveness(reg, instance_id) == "dead" and reg.list_all() == []
    assert reg.prune() == 1
    assert read_rows(d) == [] and not os.path.exists(sentinel)


def test_without_its_sentinel_file_the_pid_decides(tmp_path, children):
    d = str(tmp_path)
    child = children.registrant(d, "maya", "unix:/tmp/maya-x.sock")
    _, instance_id, sentinel = child.expect("READY ").split()
    child.kill()
    os.unlink(sentinel)
    reg = FileRegistry(d)
    assert probe_sentinel(sentinel) == "missing"
    assert liveness(reg, instance_id) == "dead"  # its pid is gone
    rewrite_row(d, instance_id, pid=os.getpid())
    assert liveness(reg, instance_id) == "live"  # nothing left to tell it from a live process


def test_a_held_sentinel_keeps_a_row_alive_whatever_its_pid(tmp_path, children):
    d = str(tmp_path)
    child = children.registrant(d, "maya", "tcp://127.0.0.1:18901")
    _, instance_id, sentinel = child.expect("READY ").split()
    os.kill(child.pid, signal.SIGSTOP)
    try:
        rewrite_row(d, instance_id, pid=2**22 + 4321)  # a pid that does not exist
        assert liveness(FileRegistry(d), instance_id) == "live"
        assert FileRegistry(d).prune() == 0
    finally:
        os.kill(child.pid, signal.SIGCONT)


def test_a_clean_exit_removes_the_sentinel_file(tmp_path, children):
    d = str(tmp_path)
    code = (
        "import sys\nfrom wirecall.registry import FileRegistry\n"
        "e = FileRegistry(sys.argv[1]).register('nuke', 'tcp://127.0.0.1:18902')\nprint(e.instance_id, e.sentinel_path, flush=True)\n"
    )
    child = children.python("-c", code, d)
    instance_id, sentinel = child.line().split()
    assert child.wait() == 0
    assert not os.path.exists(sentinel)  # removed at exit; the row stays, judged by its pid
    assert liveness(FileRegistry(d), instance_id) == "dead"


def test_a_sentinel_held_elsewhere_refuses_the_registration(tmp_path, children):
    d = str(tmp_path)
    child = children.registrant(d, "maya", "tcp://127.0.0.1:18903")
    _, instance_id, _ = child.expect("READY ").split()
    with open(os.path.join(d, "services.json"), "w") as f:
        f.write("[]")  # its row is gone, but its owner lives
    with pytest.raises(ServiceAlreadyRegistered, match="its sentinel .* is held"):
        FileRegistry(d).register("maya", "tcp://127.0.0.1:18904", instance_id=instance_id)
    child.kill()
    e = FileRegistry(d).register("maya", "tcp://127.0.0.1:18904", instance_id=instance_id)  # its sentinel is free now
    assert probe_sentinel(e.sentinel_path) == "held"
    FileRegistry(d).deregister("maya", instance_id)


def test_a_forked_child_neither_keeps_nor_removes_our_sentinel(tmp_path):
    d = str(tmp_path)
    reg = FileRegistry(d)
    e = reg.register("blender", "tcp://127.0.0.1:18905")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: sees the parent's sentinel held by someone else, then exits normally
        try:
            os.close(r)
            os.write(w, probe_sentinel(e.sentinel_path).encode())
        finally:
            os._exit(0)
    os.close(w)
    answer = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert answer == "held"
    assert os.path.exists(e.sentinel_path) and probe_sentinel(e.sentinel_path) == "held"
    assert reg.deregister("blender", e.instance_id)


def test_sentinel_names_and_prune_stays_in_locks_dir(tmp_path):
    d = str(tmp_path)
    assert sentinel_path_for(d, "my dcc/2", "a:b") == os.path.join(d, "locks", "my_dcc_2-a_b.lock")
    assert sentinel_path_for(d, "シ", "\U0001F600") == os.path.join(d, "locks", "_-__.lock")  # UTF-16 units, as TypeScript
    outside = os.path.join(d, "elsewhere.lock")
    open(outside, "w").close()
    row = {
        "schema_version": 1, "dcc_type": "x", "instance_id": "y", "host": "127.0.0.1", "port": 1, "pid": 2**22 + 1,
        "sentinel_path": outside, "registered_at": time.time(), "last_heartbeat": time.time(),
    }
    with open(os.path.join(d, "services.json"), "w") as f:
        json.dump([row], f)
    assert FileRegistry(d).prune() == 1 and os.path.exists(outside)  # not in our locks/: not ours to remove
    assert hold_sentinel(outside) == "new" and hold_sentinel(outside) == "ours"
    release_sentinel(outside)
    assert not os.path.exists(outside)
