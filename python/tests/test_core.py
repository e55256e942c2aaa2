"""The sans-IO connection core, driven with bytes alone."""

from __future__ import annotations

from typing import Any, List, Tuple

import pytest

from wirecall import protocol as P
from wirecall.core import ConnectionCore, Options
from wirecall.errors import ConnectionClosed, MessageTooLarge


def frames(data: bytes) -> List[Any]:
    return [P.decode_payload(p) for p in P.FrameDecoder(1 << 30).feed(data)]


def pair(**server_options: Any) -> Tuple[ConnectionCore, ConnectionCore]:
    client = ConnectionCore("client", Options(name="c"))
    server = ConnectionCore("server", Options(name="s", **server_options))
    client.start()
    ev = server.receive_data(client.data_to_send())
    assert ev[0][0] == "connected"
    ev = client.receive_data(server.data_to_send())
    assert ev[0][0] == "connected"
    return client, server


def hello(**changes: Any) -> bytes:
    h = {"protocol": "wirecall", "versions": [1], "peerName": "x", "peerVersion": "0", "maxFrameSize": 1 << 20, "heartbeatMs": 0}
    h.update(changes)
    return P.pack_frame([1, h])


def test_handshake_learns_names_limits_and_windows() -> None:
    client, server = pair()
    assert client.peer is not None and server.peer is not None
    assert client.peer.name == "s" and server.peer.name == "c"
    assert client.peer.connection_id == server.peer.connection_id
    assert client.state == server.state == "connected"
    assert client.peer.stream_window == (1024, 262144)


@pytest.mark.parametrize(
    "changes,reason,message",
    [
        ({"protocol": "grpc"}, "PROTOCOL", 'expected protocol wirecall, got "grpc"'),
        ({"versions": [2]}, "VERSION_MISMATCH", "server speaks protocol version 1; client offered 2"),
        ({}, "UNAUTHENTICATED", "a token is required"),
        ({"token": "nope"}, "UNAUTHENTICATED", "wrong token"),
    ],
)
def test_server_rejects(changes: dict, reason: str, message: str) -> None:
    server = ConnectionCore("server", Options(token="s3cret"))
    events = server.receive_data(hello(**changes))
    assert events[0][:3] == ("refused", reason, message)
    assert frames(server.data_to_send()) == [[3, reason, message]]
    assert server.state == "closed"


def test_right_token_is_welcome() -> None:
    server = ConnectionCore("server", Options(token="s3cret"))
    assert server.receive_data(hello(token="s3cret"))[0][0] == "connected"


def test_first_frame_not_hello_is_rejected_protocol() -> None:
    server = ConnectionCore("server", Options())
    events = server.receive_data(P.pack_frame([16, 1, "add", None, None]))
    assert events[0][0] == "fatal"
    assert frames(server.data_to_send()) == [[3, "PROTOCOL", "ERR_PROTOCOL: expected HELLO as the first frame, got message type 16"]]


def test_oversize_prefix_in_the_handshake_and_after() -> None:
    server = ConnectionCore("server", Options())
    server.receive_data((70000).to_bytes(4, "big"))
    assert frames(server.data_to_send()) == [[3, "PROTOCOL", 'ERR_PROTOCOL: peer does not speak the wirecall protocol (its first bytes: "...p")']]
    server = ConnectionCore("server", Options())
    server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert frames(server.data_to_send()) == [[3, "PROTOCOL", 'ERR_PROTOCOL: peer does not speak the wirecall protocol (its first bytes: "GET / HTTP/1.1..Host: x.")']]
    client, server = pair(max_frame_size=1000)
    server.receive_data((1001).to_bytes(4, "big"))
    assert frames(server.data_to_send()) == [[50, "ERR_FRAME_TOO_LARGE: incoming frame of 1001 bytes exceeds the limit of 1000 bytes"]]


def test_calls_both_ways_share_ids_without_confusion() -> None:
    client, server = pair()
    cid = client.start_call("add", {"a": 1}, None, "client-waiter")
    sid = server.start_call("confirm", None, 1000, "server-waiter")
    assert cid == sid == 1
    (ev,) = server.receive_data(client.data_to_send())
    assert ev[0] == "call" and ev[1].method == "add"
    (ev2,) = client.receive_data(server.data_to_send())
    assert ev2[0] == "call" and ev2[1].method == "confirm" and ev2[1].timeout_ms == 1000
    assert client.send_result(ev2[1], True)
    assert server.send_result(ev[1], 3)
    assert server.receive_data(client.data_to_send()) == [("result", "server-waiter", True)]
    assert client.receive_data(server.data_to_send()) == [("result", "client-waiter", 3)]
    assert client.idle and server.idle


def test_duplicate_id_is_fatal() -> None:
    client, server = pair()
    call = P.pack_frame([16, 7, "x", None, None])
    server.receive_data(call)
    events = server.receive_data(call)
    assert events[-1][0] == "fatal"
    assert frames(server.data_to_send())[-1] == [50, "ERR_PROTOCOL: peer reused call id 7 while that call was still running"]


def test_cancel_forgets_the_call_and_late_answers_are_dropped() -> None:
    client, server = pair()
    cid = client.start_call("slow", None, None, "w")
    (ev,) = server.receive_data(client.data_to_send())
    assert client.forget_call(cid)
    assert server.receive_data(client.data_to_send()) == [("cancel", ev[1])]
    assert not server.send_result(ev[1], "late")
    assert server.data_to_send() == b""
    assert client.receive_data(P.pack_frame([17, cid, "late"])) == []


def test_closing_answers_unavailable_and_limit_answers_resource_exhausted() -> None:
    client, server = pair(max_concurrent_calls=1)
    client.start_call("a", None, None, "w1")
    client.start_call("b", None, None, "w2")
    server.receive_data(client.data_to_send())
    assert frames(server.data_to_send()) == [[18, 2, 8, {"name": "ResourceExhausted", "message": "too many concurrent calls (limit 1)"}]]
    server.shutdown()
    server.receive_data(P.pack_frame([16, 9, "c", None, None]))
    assert frames(server.data_to_send()) == [[50, None], [18, 9, 14, {"name": "Unavailable", "message": "connection is shutting down"}]]


def test_flood_past_the_limit_is_cut_with_limit_exceeded() -> None:
    client, server = pair(max_concurrent_calls=1, max_refused_per_second=5)
    data = b"".join(P.pack_frame([16, i, "x", None, None]) for i in range(1, 10))
    events = server.receive_data(data)
    assert events[-1][0] == "fatal"
    out = frames(server.data_to_send())
    assert [m[:3] for m in out[:-1]] == [[18, i, 8] for i in range(2, 7)]  # the 5 refusals queued before go first
    assert out[-1:] == [[50, "ERR_LIMIT_EXCEEDED: peer kept calling past the concurrency limit (1): over 5 refusals within a second (maxRefusedPerSecond)"]]


def test_sender_checks_the_peer_limit() -> None:
    client, server = pair(max_frame_size=300)
    with pytest.raises(MessageTooLarge):
        client.start_call("x", "y" * 400, None, "w")
    assert client.outgoing == {}
    assert client.data_to_send() == b""


def test_oversize_result_becomes_resource_exhausted() -> None:
    client = ConnectionCore("client", Options(max_frame_size=300))
    server = ConnectionCore("server", Options())
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.start_call("big", None, None, "w")
    (ev,) = server.receive_data(client.data_to_send())
    server.send_result(ev[1], "x" * 500)
    (m,) = frames(server.data_to_send())
    assert m[:3] == [18, 1, 8] and m[3]["name"] == "FrameTooLarge"


def test_not_open_raises_connection_closed() -> None:
    c = ConnectionCore("client", Options())
    with pytest.raises(ConnectionClosed):
        c.start_call("x", None, None, "w")


def test_ping_is_answered_with_the_same_nonce() -> None:
    client, server = pair()
    server.receive_data(P.pack_frame([48, 77]))
    assert frames(server.data_to_send()) == [[49, 77]]


def test_unknown_type_after_handshake_is_fatal_with_the_reference_reason() -> None:
    client, server = pair()
    server.receive_data(P.pack_frame([99]))
    assert frames(server.data_to_send()) == [[50, "ERR_PROTOCOL: unknown message type 99"]]
    client, server = pair()
    server.receive_data(hello())
    assert frames(server.data_to_send()) == [[50, "ERR_PROTOCOL: unexpected message type 1 after the handshake"]]


def test_stream_credit_is_checked_and_granted_in_half_windows() -> None:
    client = ConnectionCore("client", Options())
    server = ConnectionCore("server", Options(stream_window=(4, 1000)))
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    s = client.open_stream("sum", None, None, P.CLIENT_STREAM, None, "w")
    for i in range(4):
        assert client.can_send(s)
        client.stream_send(s, i)
    assert not client.can_send(s)
    events = server.receive_data(client.data_to_send())
    opened = events[0][1]
    msgs = [e for e in events if e[0] == "stream_message"]
    assert len(msgs) == 4
    server.consumed(opened, msgs[0][3])
    assert server.data_to_send() == b""
    server.consumed(opened, msgs[1][3])
    (grant,) = frames(server.data_to_send())
    assert grant == [37, s.id, 2, msgs[0][3] + msgs[1][3]]
    client.receive_data(P.pack_frame(grant))
    assert client.can_send(s)
    # a message beyond the credit the server granted is fatal
    server.receive_data(b"".join(P.pack_frame([33, s.id, i]) for i in range(3)))
    assert frames(server.data_to_send())[-1] == [50, f"ERR_PROTOCOL: peer sent a message on stream {s.id} beyond the credit it was granted"]


def test_a_starved_reader_grows_the_byte_window_up_to_the_limit_and_the_budget() -> None:
    client = ConnectionCore("client", Options(max_stream_window=4000, max_stream_window_growth=5000))
    server = ConnectionCore("server", Options())
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    s = client.open_stream("count", None, None, P.SERVER_STREAM, None, "w")  # the default window: it may grow
    client.data_to_send()
    s.window = (4, 1000)
    s.recv_credit = [4, 1000]
    s.limit_bytes = 4000
    s.starved = True
    client.consumed(s, 10)
    client.consumed(s, 10)
    (grant,) = frames(client.data_to_send())
    assert grant == [35, s.id, 2, 20 + 1000]  # what was read, plus the doubling
    assert s.window == (4, 2000) and s.grown == 1000
    s.starved = True
    client.consumed(s, 10)
    client.consumed(s, 10)
    (grant,) = frames(client.data_to_send())
    assert grant == [35, s.id, 2, 20 + 2000] and s.window == (4, 4000)
    s.starved = True
    client.consumed(s, 10)
    client.consumed(s, 10)
    (grant,) = frames(client.data_to_send())
    assert grant == [35, s.id, 2, 20] and s.window == (4, 4000)  # at the limit: no more growth
    fixed = client.open_stream("count", None, None, P.SERVER_STREAM, (4, 1000), "w2")  # chosen: stays fixed
    client.data_to_send()
    fixed.starved = True
    client.consumed(fixed, 10)
    client.consumed(fixed, 10)
    (grant,) = frames(client.data_to_send())
    assert grant == [35, fixed.id, 2, 20]
    client.receive_data(P.pack_frame([17, s.id, None]))  # the stream ends: its growth goes back
    assert client._growth_budget == 5000


def test_authenticate_hook_refuses_with_not_authorised() -> None:
    seen = []

    def authenticate(hello: dict, address: str) -> bool:
        seen.append((hello["peerName"], address))
        return hello["peerName"] == "friend"

    server = ConnectionCore("server", Options(authenticate=authenticate), address="127.0.0.1:5")
    assert server.receive_data(hello(peerName="stranger"))[0][:3] == ("refused", "UNAUTHENTICATED", "not authorised")
    server = ConnectionCore("server", Options(authenticate=authenticate), address="127.0.0.1:6")
    assert server.receive_data(hello(peerName="friend"))[0][0] == "connected"
    assert seen == [("stranger", "127.0.0.1:5"), ("friend", "127.0.0.1:6")]
