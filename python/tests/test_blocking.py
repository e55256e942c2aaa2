"""The blocking, thread-based front-end: servers on a background thread, handlers on a
pool or handed to a "main thread" through an executor."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from typing import Any, List

import pytest

import wirecall
from wirecall import ConnectionClosed, DeadlineExceeded, MainThreadQueue, RemoteError


def test_server_and_client_on_threads(tmp_path: Any) -> None:
    server = wirecall.Server(name="blocking")
    threads: List[str] = []

    @server.method()
    def add(p: Any) -> Any:
        threads.append(threading.current_thread().name)
        return p["a"] + p["b"]

    server.register("fail", lambda p: 1 / 0)
    for ep_text in ("tcp://127.0.0.1:0", f"unix:{tmp_path}/b.sock", None):
        ep = server.listen(ep_text)
        with wirecall.connect(ep, name="blocking-client") as conn:
            assert conn.peer is not None and conn.peer.name == "blocking"
            assert conn.call("add", {"a": 2, "b": 3}) == 5
            with pytest.raises(RemoteError) as info:
                conn.call("fail")
            assert info.value.remote_name == "ZeroDivisionError"
            assert conn.ping() < 1
        assert conn.state == "closed"
    assert all(name.startswith("wirecall-handler") for name in threads)
    server.close()


def test_calls_back_to_the_caller_from_a_thread_handler() -> None:
    server = wirecall.Server()

    def countdown(p: Any, ctx: wirecall.CallContext) -> Any:
        return [ctx.connection.call("tick", {"n": n}) for n in range(p, 0, -1)]

    server.register("countdown", countdown)
    ep = server.listen("tcp://127.0.0.1:0")
    with wirecall.connect(ep, handlers={"tick": lambda p: p["n"] * 2}) as conn:
        assert conn.call("countdown", 3) == [6, 4, 2]
    server.close()


def test_deadline_and_cancellation_reach_a_thread_handler() -> None:
    server = wirecall.Server()
    seen: List[Any] = []

    def wait(p: Any, ctx: wirecall.CallContext) -> Any:
        off = ctx.wait_cancelled(5)
        seen.append((off, type(ctx.cancel_reason).__name__))
        return "late"

    server.register("wait", wait)
    ep = server.listen("tcp://127.0.0.1:0")
    with wirecall.connect(ep) as conn:
        t0 = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            conn.call("wait", None, timeout=0.2)
        assert time.monotonic() - t0 < 2
        future = conn.call_async("wait")
        time.sleep(0.2)
        assert future.cancel() or future.cancelled()
        deadline = time.monotonic() + 3
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (True, "DeadlineExceeded") in seen
        assert (True, "CallCancelled") in seen
    server.close()


def test_handlers_run_on_a_busy_main_thread_through_an_executor() -> None:
    """A DCC's main thread: it runs a scene loop and takes queued work between frames."""
    main = MainThreadQueue()
    server = wirecall.Server(executor=main.run, name="dcc")
    scene = {"objects": ["cube"]}
    ran_on: List[str] = []

    def add_object(p: Any, ctx: wirecall.CallContext) -> Any:
        ran_on.append(threading.current_thread().name)
        scene["objects"].append(p)
        return list(scene["objects"])

    server.register("scene.add", add_object)
    ep = server.listen("tcp://127.0.0.1:0")
    results: List[Any] = []
    errors: List[BaseException] = []

    def client() -> None:
        try:
            with wirecall.connect(ep) as conn:
                for name in ["sphere", "cone", "torus"]:
                    results.append(conn.call("scene.add", name, timeout=5))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            main.stop()

    t = threading.Thread(target=client)
    t.start()
    frames = 0
    while t.is_alive() or not main._stopped:
        time.sleep(0.01)  # the "frame": the main thread is busy 10 ms at a time
        main.process()
        frames += 1
        if frames > 1000:
            break
    t.join(5)
    assert errors == []
    assert results[-1] == ["cube", "sphere", "cone", "torus"]
    assert set(ran_on) == {threading.current_thread().name}
    server.close()


def test_concurrent_futures_executor_is_used() -> None:
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="mine")
    server = wirecall.Server(executor=pool)
    server.register("who", lambda p: threading.current_thread().name)
    ep = server.listen("tcp://127.0.0.1:0")
    with wirecall.connect(ep) as conn:
        assert conn.call("who").startswith("mine")
    server.close()
    pool.shutdown()


def test_blocking_streams() -> None:
    server = wirecall.Server()

    def count(p: Any) -> Any:
        for i in range(p):
            yield i

    def total(messages: Any) -> int:
        return sum(messages)

    def chat(messages: Any) -> Any:
        for m in messages:
            yield m * 2

    server.register_stream("count", count)
    server.register_client_stream("sum", total)
    server.register_bidi_stream("chat", chat)
    ep = server.listen("tcp://127.0.0.1:0")
    with wirecall.connect(ep) as conn:
        assert list(conn.stream("count", 3000)) == list(range(3000))
        s = conn.client_stream("sum")
        for i in range(100):
            s.write(i)
        s.end()
        assert s.result(5) == 4950
        b = conn.bidi_stream("chat")
        b.write(1)
        b.write(2)
        b.end()
        assert list(b) == [2, 4]
    server.close()


def test_closed_connection_raises() -> None:
    server = wirecall.Server()
    server.register("x", lambda p: 1)
    ep = server.listen("tcp://127.0.0.1:0")
    conn = wirecall.connect(ep)
    conn.close()
    with pytest.raises(ConnectionClosed):
        conn.call("x")
    server.close()


def test_stream_handlers_run_where_handlers_run() -> None:
    main = MainThreadQueue()
    server = wirecall.Server(executor=main.run)
    where: List[str] = []

    def listing(p: Any) -> Any:  # a plain function returning a list: runs on the "main thread"
        where.append(threading.current_thread().name)
        return ["a", "b"]

    def gen(p: Any) -> Any:  # a generator: each step runs on the "main thread"
        for i in range(3):
            where.append(threading.current_thread().name)
            yield i

    server.register_stream("listing", listing)
    server.register_stream("gen", gen)
    ep = server.listen("tcp://127.0.0.1:0")
    out: List[Any] = []

    def client() -> None:
        try:
            with wirecall.connect(ep) as conn:
                out.append(list(conn.stream("listing")))
                out.append(list(conn.stream("gen")))
        finally:
            main.stop()

    t = threading.Thread(target=client)
    t.start()
    main.run_forever()
    t.join(5)
    server.close()
    assert out == [["a", "b"], [0, 1, 2]]
    assert set(where) == {threading.current_thread().name}


def test_many_threads_share_one_blocking_connection() -> None:
    server = wirecall.Server(max_workers=8)
    server.register("add", lambda p: p["a"] + p["b"])
    ep = server.listen("tcp://127.0.0.1:0")
    errors: List[BaseException] = []
    with wirecall.connect(ep) as conn:

        def worker(k: int) -> None:
            try:
                for i in range(200):
                    assert conn.call("add", {"a": i, "b": k}) == i + k
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert errors == []
    server.close()


def test_thread_handlers_finishing_together_are_each_answered() -> None:
    """Answers of thread handlers go back to the loop in batches (one wake-up for those that
    finish together): every call still gets its own answer, results and errors mixed."""
    release = threading.Event()

    def work(p: int) -> int:
        release.wait(10)  # hold the workers, so that they finish together
        if p % 3 == 0:
            raise ValueError(f"no {p}")
        return p * 2

    server = wirecall.Server(max_workers=16)
    server.register("work", work)
    ep = server.listen("tcp://127.0.0.1:0")
    with wirecall.connect(ep) as conn:
        futures = [conn.call_async("work", i) for i in range(64)]
        time.sleep(0.2)
        release.set()
        for i, f in enumerate(futures):
            if i % 3 == 0:
                with pytest.raises(RemoteError) as info:
                    f.result(10)
                assert info.value.remote_name == "ValueError" and str(i) in str(info.value)
            else:
                assert f.result(10) == i * 2
    server.close()
