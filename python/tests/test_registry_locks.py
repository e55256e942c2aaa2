"""The write locks, between real processes: services.lock (flock) makes a writer wait and
time out; services.json.lock (the mkdir lock with owner records) is got past at once when
its holder died, after lock_stale when it hangs, never while a live holder has it; many
Python processes writing at once lose nothing."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))

from registry_support import HERE, PATIENT, Children, child_env, read_rows  # noqa: E402

from wirecall.registry import FileRegistry  # noqa: E402
from wirecall.registry_errors import RegistryFileError  # noqa: E402
from wirecall.registry_locks import pid_namespace, try_lock, unlock  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and flock")

HOLDER = os.path.join(HERE, "registry_lock_holder.py")


@pytest.fixture
def children():
    c = Children()
    yield c
    c.cleanup()


def can_flock(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if try_lock(fd):
            unlock(fd)
            return True
        return False
    finally:
        os.close(fd)


def register_in_thread(reg: FileRegistry, **kw):
    box: dict = {}

    def run() -> None:
        try:
            box["entry"] = reg.register("maya", "tcp://127.0.0.1:18812", pid=1, **kw)
        except Exception as err:  # noqa: BLE001
            box["error"] = err
        box["at"] = time.monotonic()

    t = threading.Thread(target=run)
    t.start()
    return t, box


@pytest.mark.parametrize("mode", ["flock", "both"])
def test_a_writer_waits_while_another_process_holds_the_lock(tmp_path, children, mode):
    d = str(tmp_path)
    holder = children.python(HOLDER, d, mode)
    holder.expect("started")
    holder.expect("locked")
    assert not can_flock(os.path.join(d, "services.lock"))
    if mode == "both":
        (record,) = os.listdir(os.path.join(d, "services.json.lock"))
        assert record.startswith(f"owner-{holder.pid}-") and record.endswith(".json")
        with open(os.path.join(d, "services.json.lock", record)) as f:
            owner = json.load(f)
        assert list(owner) == ["pid", "host", "pidNamespace", "since"]
        assert (owner["pid"], owner["host"], owner["pidNamespace"]) == (holder.pid, socket.gethostname(), pid_namespace())
        assert abs(owner["since"] - time.time() * 1000) < 10_000

    reg = FileRegistry(d)
    t, box = register_in_thread(reg)
    time.sleep(0.5)
    assert "at" not in box and read_rows(d) == []  # still waiting
    released = time.monotonic()
    holder.close_stdin()
    holder.expect("released")
    t.join(10)
    assert "entry" in box and box["at"] >= released
    assert [r["instance_id"] for r in read_rows(d)] == [box["entry"].instance_id]
    assert can_flock(os.path.join(d, "services.lock")) and not os.path.exists(os.path.join(d, "services.json.lock"))


def test_waiting_for_services_lock_times_out(tmp_path, children, monkeypatch):
    d = str(tmp_path)
    holder = children.python(HOLDER, d, "flock")
    holder.expect("started")
    holder.expect("locked")
    monkeypatch.setenv("DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS", "300")
    reg = FileRegistry(d)
    start = time.monotonic()
    with pytest.raises(RegistryFileError, match=r"timed out after 300 ms waiting for the registry lock .*services\.lock \(held by another process\)"):
        reg.register("maya", "tcp://127.0.0.1:1", pid=1)
    assert 0.28 <= time.monotonic() - start < 3
    assert read_rows(d) == []
    # lock_timeout, when given, is used for both locks
    with pytest.raises(RegistryFileError, match="timed out after 200 ms"):
        FileRegistry(d, lock_timeout=0.2).register("maya", "tcp://127.0.0.1:1", pid=1)


def test_a_killed_holder_is_got_past_at_once_and_its_temp_file_removed(tmp_path, children):
    d = str(tmp_path)
    holder = children.python(HOLDER, d, "write")
    holder.expect("started")
    temp = holder.expect("writing ").split(" ", 1)[1]
    fresh_other = os.path.join(d, "services.json.777")  # fresh: removed only because the holder died
    open(fresh_other, "w").close()
    holder.kill()
    assert os.path.exists(os.path.join(d, "services.json.lock"))  # left behind, with a dead owner
    reg = FileRegistry(d)  # lock_stale 10 s: the dead pid, not the mtime, lets us in
    start = time.monotonic()
    e = reg.register("maya", "tcp://127.0.0.1:18812", pid=1)
    assert time.monotonic() - start < 2
    assert not os.path.exists(temp) and not os.path.exists(fresh_other)
    assert [r["instance_id"] for r in read_rows(d)] == [e.instance_id]


def make_lock_dir(d: str, owner=None, age: float = 0.0) -> str:
    lock = os.path.join(d, "services.json.lock")
    os.mkdir(lock)
    if owner is not None:
        with open(os.path.join(lock, f"owner-{owner['pid']}-00112233aabbccdd.json"), "w") as f:
            json.dump(owner, f)
    if age:
        then = time.time() - age
        os.utime(lock, (then, then))
    return lock


def test_a_live_holder_is_never_taken_over(tmp_path):
    d = str(tmp_path)
    make_lock_dir(d, {"pid": os.getppid(), "host": socket.gethostname(), "pidNamespace": pid_namespace(), "since": 0})
    with pytest.raises(RegistryFileError, match=r"timed out after 300 ms waiting for the registry lock .*services\.json\.lock"):
        FileRegistry(d, lock_timeout=0.3).register("maya", "tcp://127.0.0.1:1", pid=1)


def test_a_holder_on_another_host_is_judged_by_mtime_only(tmp_path):
    d = str(tmp_path)
    lock = make_lock_dir(d, {"pid": 2**22 + 99, "host": "elsewhere.invalid", "pidNamespace": None, "since": 0})
    with pytest.raises(RegistryFileError):
        FileRegistry(d, lock_timeout=0.3).register("maya", "tcp://127.0.0.1:1", pid=1)
    then = time.time() - 5
    os.utime(lock, (then, then))
    FileRegistry(d, lock_stale=2, lock_timeout=1).register("maya", "tcp://127.0.0.1:1", pid=1)
    assert not os.path.exists(lock) and len(read_rows(d)) == 1


def test_an_empty_lock_dir_is_removed_by_the_mtime_rule_only(tmp_path):
    d = str(tmp_path)
    lock = make_lock_dir(d)  # a holder between mkdir and its record, or a wirecall that writes none
    with pytest.raises(RegistryFileError):
        FileRegistry(d, lock_timeout=0.3).register("maya", "tcp://127.0.0.1:1", pid=1)
    then = time.time() - 5
    os.utime(lock, (then, then))
    FileRegistry(d, lock_stale=2, lock_timeout=1).register("maya", "tcp://127.0.0.1:1", pid=1)
    assert len(read_rows(d)) == 1


def test_a_dead_owner_record_is_got_past_at_once(tmp_path):
    d = str(tmp_path)
    make_lock_dir(d, {"pid": 2**22 + 98, "host": socket.gethostname(), "pidNamespace": pid_namespace(), "since": 0})
    start = time.monotonic()
    FileRegistry(d, lock_timeout=5).register("maya", "tcp://127.0.0.1:1", pid=1)
    assert time.monotonic() - start < 1


def test_a_long_hold_refreshes_the_lock_mtime(tmp_path):
    import subprocess

    from wirecall.registry_locks import registry_locks

    d = str(tmp_path)
    waiter = (
        "import sys\nfrom wirecall.registry import FileRegistry\nfrom wirecall.registry_errors import RegistryFileError\n"
        "try:\n    FileRegistry(sys.argv[1], lock_stale=2, lock_timeout=1.0)._change(lambda rows: (None, None))\n"
        "    print('TOOK IT')\nexcept RegistryFileError as err:\n    print('WAITED', err)\n"
    )
    with registry_locks(d, services_timeout=1, backoff=0.01, stale=2, mkdir_timeout=1, warn=print):
        lock = os.path.join(d, "services.json.lock")
        first = os.stat(lock).st_mtime
        time.sleep(1.3)  # stale/2 = 1 s
        assert os.stat(lock).st_mtime > first
        os.unlink(os.path.join(d, "services.lock"))  # so the waiter meets the mkdir lock, not the flock
        # A waiter with the same stale time does not take it over, 2.3 s after it was taken.
        out = subprocess.run([sys.executable, "-c", waiter, d], env=child_env(), capture_output=True, text=True, timeout=30)
        assert out.stdout.startswith("WAITED") and "services.json.lock" in out.stdout, out.stdout + out.stderr


def test_many_python_processes_writing_at_once_lose_nothing(tmp_path, children):
    d = str(tmp_path)
    n = 8
    env = child_env(**PATIENT)
    procs = [children.registrant(d, f"dcc-{i % 3}", f"tcp://127.0.0.1:{21000 + i}", "5", "5", env=env) for i in range(n)]
    ready = [p.expect("READY ").split() for p in procs]
    for p in procs:
        p.expect("BEATEN", timeout=30)
    rows = read_rows(d)
    assert sorted(r["instance_id"] for r in rows) == sorted(r[1] for r in ready)
    assert sorted(r["pid"] for r in rows) == sorted(p.pid for p in procs)
    for p in procs:
        p.close_stdin()
    for p in procs:
        p.expect("DONE", timeout=30)
        assert p.wait() == 0
    assert read_rows(d) == [] and os.listdir(os.path.join(d, "locks")) == []
