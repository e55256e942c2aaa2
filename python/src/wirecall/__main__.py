"""``python -m wirecall``: quick checks, with the TypeScript CLI's grammar, output and exit codes.

    python -m wirecall serve [endpoint] [--token T] [--name N]   first line: listening on <endpoint>
    python -m wirecall call <endpoint> <method> [json] [--token T] [--timeout MS] [--stream | --client-stream | --bidi]
    python -m wirecall notify <endpoint> <method> [json] [--token T]
    python -m wirecall ping <endpoint> [--count N] [--interval MS] [--token T]

TLS (docs/TLS.md): ``tls://host:port``, with ``--tls-cert/--tls-key/--tls-ca`` (and, for clients,
``--tls-servername``); any of them on a ``tcp://`` endpoint turns TLS on. ``serve --tls-ca``: mutual TLS.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator, List, Optional

from . import __version__
from .blocking import Server, connect
from .cli_tls import add_tls_flags, tls_from_flags
from .demo import register_demo_methods
from .errors import (
    CallCancelled,
    DeadlineExceeded,
    InvalidArgument,
    InvalidEndpoint,
    InvalidOption,
    NotSupported,
    RemoteError,
    TransportError,
    WirecallError,
)

EXIT_OK, EXIT_REMOTE, EXIT_USAGE, EXIT_TRANSPORT, EXIT_DEADLINE, EXIT_CANCELLED, EXIT_INTERNAL = 0, 1, 2, 3, 4, 5, 70


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def to_json_line(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def exit_code_for(err: BaseException) -> int:
    if isinstance(err, (InvalidEndpoint, InvalidOption, InvalidArgument, NotSupported, _UsageError)):
        return EXIT_USAGE
    if isinstance(err, RemoteError):
        return EXIT_REMOTE
    if isinstance(err, DeadlineExceeded):
        return EXIT_DEADLINE
    if isinstance(err, (CallCancelled, KeyboardInterrupt)):
        return EXIT_CANCELLED
    if isinstance(err, TransportError):
        return EXIT_TRANSPORT
    return EXIT_INTERNAL


def format_error(err: BaseException) -> str:
    if isinstance(err, RemoteError):
        text = f"{err.status_name}: {err.message}"
    elif isinstance(err, (WirecallError, _UsageError)):
        text = f"{err.code}: {err}"
    else:
        text = f"{type(err).__name__}: {err}"
    return "error: " + text.replace("\r\n", "\\n").replace("\n", "\\n")


class _UsageError(Exception):
    def __init__(self, message: str, code: str = "ERR_USAGE") -> None:
        super().__init__(message)
        self.code = code


def _token(args: argparse.Namespace) -> Optional[str]:
    if getattr(args, "token_file", None):
        with open(args.token_file, encoding="utf-8") as f:
            text = f.read()
        return text[:-1] if text.endswith("\n") else text
    token: Optional[str] = getattr(args, "token", None)
    if token:
        return token
    return os.environ.get("WIRECALL_TOKEN") or None


def _params(text: Optional[str]) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as e:
        raise _UsageError(f"params are not valid JSON: {e}", "ERR_INVALID_JSON") from None


def cmd_serve(args: argparse.Namespace) -> int:
    server = register_demo_methods(Server(name=args.name, version=__version__, token=_token(args), tls=tls_from_flags(args, True)))
    endpoint = server.listen(args.endpoint)
    print(f"listening on {endpoint}", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            os._exit(130 if signum == signal.SIGINT else 143)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(0.5):
        pass
    server.close()
    return EXIT_OK


def _tick(params: Any) -> str:
    """countdown.tick, served while a call runs (the demo's countdown calls it back), as the TS CLI."""
    n = params.get("n") if isinstance(params, dict) else None
    ack = f"ack {n if isinstance(n, (int, float)) and not isinstance(n, bool) else to_json_line(params)}"
    print(f"countdown.tick {to_json_line(params)} -> {to_json_line(ack)}", file=sys.stderr, flush=True)
    return ack


def _stdin_messages() -> Iterator[Any]:
    """One JSON value per line of stdin; blank lines are skipped."""
    for line in sys.stdin:
        if line.strip():
            yield _params(line)


def cmd_call(args: argparse.Namespace) -> int:
    params = _params(args.params)
    timeout = None if args.timeout is None else args.timeout / 1000.0
    with connect(args.endpoint, token=_token(args), tls=tls_from_flags(args, False), connect_timeout=args.connect_timeout / 1000.0, handlers={"countdown.tick": _tick}) as conn:
        if args.stream:
            for message in conn.stream(args.method, params, timeout=timeout):
                print(to_json_line(message), flush=True)
        elif args.client_stream or args.bidi:
            s = conn.bidi_stream(args.method, params, timeout=timeout) if args.bidi else conn.client_stream(args.method, params, timeout=timeout)
            failure: List[BaseException] = []

            def write_all() -> None:
                try:
                    for message in _stdin_messages():
                        s.write(message)
                    s.end()
                except BaseException as e:  # bad JSON: cancel the stream
                    failure.append(e)
                    s.cancel()

            writer = threading.Thread(target=write_all, daemon=True)
            writer.start()
            try:
                if args.bidi:
                    for reply in s:
                        print(to_json_line(reply), flush=True)
                else:
                    print(to_json_line(s.result()), flush=True)
            except CallCancelled:
                if failure:
                    raise failure[0] from None
                raise
            if failure:
                raise failure[0]
        else:
            print(to_json_line(conn.call(args.method, params, timeout=timeout)), flush=True)
    return EXIT_OK


def cmd_notify(args: argparse.Namespace) -> int:
    params = _params(args.params)
    with connect(args.endpoint, token=_token(args), tls=tls_from_flags(args, False), connect_timeout=args.connect_timeout / 1000.0) as conn:
        conn.notify(args.method, params)
    return EXIT_OK


def cmd_ping(args: argparse.Namespace) -> int:
    times: List[float] = []
    with connect(args.endpoint, token=_token(args), tls=tls_from_flags(args, False), connect_timeout=args.connect_timeout / 1000.0) as conn:
        try:
            for i in range(args.count):
                if i > 0:
                    time.sleep(args.interval / 1000.0)
                ms = conn.ping(args.timeout / 1000.0) * 1000.0
                times.append(ms)
                print(f"pong from {args.endpoint}: time={ms:.3f} ms", flush=True)
        finally:
            if args.count > 1 and times:
                print(f"min/avg/max = {min(times):.3f}/{sum(times) / len(times):.3f}/{max(times):.3f} ms", flush=True)
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wirecall", description="wirecall: RPC over TCP and Unix sockets")
    parser.add_argument("-V", "--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command")

    def token_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", help="token for the handshake (visible to other local users: prefer --token-file or $WIRECALL_TOKEN)")
        p.add_argument("--token-file", help="read the token from this file")

    serve = sub.add_parser("serve", help="serve the demo methods until SIGINT/SIGTERM")
    serve.add_argument("endpoint", nargs="?", help="where to listen; default: a fresh private Unix socket")
    serve.add_argument("--name", default="wirecall-demo-py", help="server name announced in the handshake")
    token_flags(serve)
    add_tls_flags(serve, True)
    def target_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("endpoint")
        p.add_argument("method")
        p.add_argument("params", nargs="?", help="params as JSON; omitted: no params")
        p.add_argument("--connect-timeout", type=float, default=10000)

    call = sub.add_parser("call", help="call a method and print its result as one line of JSON")
    target_args(call)
    call.add_argument("--timeout", type=float, help="deadline in ms")
    kind = call.add_mutually_exclusive_group()
    kind.add_argument("--stream", action="store_true", help="open a server stream: print each message, one JSON line each")
    kind.add_argument("--client-stream", action="store_true", help="open a client stream: send each line of stdin (JSON) as a message; print the result")
    kind.add_argument("--bidi", action="store_true", help="open a bidirectional stream: send each line of stdin (JSON); print each reply")
    token_flags(call)
    add_tls_flags(call, False)
    notify = sub.add_parser("notify", help="send a notification (no reply) and exit once it has been flushed")
    target_args(notify)
    token_flags(notify)
    add_tls_flags(notify, False)
    ping = sub.add_parser("ping", help="measure round-trip times to a server")
    ping.add_argument("endpoint")
    ping.add_argument("-c", "--count", type=int, default=1)
    ping.add_argument("-i", "--interval", type=float, default=1000)
    ping.add_argument("--timeout", type=float, default=10000)
    ping.add_argument("--connect-timeout", type=float, default=10000)
    token_flags(ping)
    add_tls_flags(ping, False)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code not in (0, None) else EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return {"serve": cmd_serve, "call": cmd_call, "notify": cmd_notify, "ping": cmd_ping}[args.command](args)
    except BaseException as err:  # noqa: B902 - every failure is one line and an exit code
        if isinstance(err, SystemExit):
            raise
        print(format_error(err), file=sys.stderr, flush=True)
        return exit_code_for(err)


if __name__ == "__main__":
    sys.exit(main())
