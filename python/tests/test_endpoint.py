"""The endpoint grammar, as src/transport/endpoint.ts."""

from __future__ import annotations

import pytest

from wirecall import Endpoint, InvalidEndpoint, format_endpoint, parse_endpoint


@pytest.mark.parametrize(
    "text,expected",
    [
        ("tcp://127.0.0.1:4000", Endpoint("tcp", host="127.0.0.1", port=4000)),
        ("localhost:0", Endpoint("tcp", host="localhost", port=0)),
        ("[::1]:80", Endpoint("tcp", host="::1", port=80)),
        ("tcp://[::1]:80", Endpoint("tcp", host="::1", port=80)),
        ("unix:/tmp/a.sock", Endpoint("unix", path="/tmp/a.sock")),
        ("unix:///tmp/a.sock", Endpoint("unix", path="/tmp/a.sock")),
        ("unix://tmp/a.sock", Endpoint("unix", path="/tmp/a.sock")),
        ("/tmp/a.sock", Endpoint("unix", path="/tmp/a.sock")),
        ("pipe://maya", Endpoint("pipe", name="maya")),
        ("\\\\.\\pipe\\maya", Endpoint("pipe", name="maya")),
    ],
)
def test_parses(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


def test_relative_unix_paths_are_made_absolute() -> None:
    assert parse_endpoint("./a.sock", cwd="/srv") == Endpoint("unix", path="/srv/a.sock")
    assert parse_endpoint("unix:rel/a.sock", cwd="/srv") == Endpoint("unix", path="/srv/rel/a.sock")


def test_round_trips_through_format() -> None:
    for text in ["tcp://127.0.0.1:1", "tcp://[::1]:2", "unix:/tmp/x.sock", "pipe://name"]:
        assert format_endpoint(parse_endpoint(text)) == text


@pytest.mark.parametrize(
    "text",
    ["", "tcp://host", "host", ":80", "::1:80", "tcp://[::1]", "tcp:host:1", "http://x:1", "1.2.3:80", "a b:1", "host:70000",
     "host:-1", "unix:", "unix:/tmp/", "pipe://", "pipe://a/b", "unix:/" + "x" * 200, "tcp://[1.2.3.4]:1", "bad_host!:1"],
)
def test_refuses(text: str) -> None:
    with pytest.raises(InvalidEndpoint) as info:
        parse_endpoint(text)
    assert info.value.code == "ERR_INVALID_ENDPOINT"
