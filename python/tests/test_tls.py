"""TLS and mutual TLS between Python peers, both APIs, on real sockets (docs/TLS.md): the peer's
identity, and every failure as its typed error. Certificates come from the openssl CLI."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import wirecall
from conftest import run
from tls_certs import TestCerts, has_openssl, make_test_certs
from wirecall import aio
from wirecall.endpoint import parse_endpoint
from wirecall.errors import (
    CertificateExpired,
    CertificateNameMismatch,
    CertificateUntrusted,
    ClientCertificateRequired,
    HandshakeTimeout,
    InvalidOption,
    TlsError,
    TlsNotOffered,
    TlsRequired,
    TransportError,
)
from wirecall.tls_options import TlsOptions

pytestmark = pytest.mark.skipif(not has_openssl(), reason="the openssl CLI is missing")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCerts]:
    yield make_test_certs(tmp_path_factory.mktemp("tls"))


def mtls_server(c: TestCerts) -> Dict[str, Any]:
    return {"cert": c.server.cert, "key": c.server.key, "ca": c.ca, "require_client_cert": True}


def whoami(params: Any, ctx: wirecall.CallContext) -> Any:
    return ctx.peer.as_dict()


def test_the_endpoint_grammar_knows_tls() -> None:
    ep = parse_endpoint("tls://render-07.studio:7443")
    assert (ep.kind, ep.host, ep.port, ep.tls) == ("tcp", "render-07.studio", 7443, True)
    assert str(ep) == "tls://render-07.studio:7443"
    assert str(parse_endpoint("tls://[::1]:1")) == "tls://[::1]:1"
    assert parse_endpoint("tcp://h:1").tls is False
    with pytest.raises(wirecall.InvalidEndpoint):
        parse_endpoint("tls:h:1")


def test_errors_have_the_typescript_names_and_codes() -> None:
    assert issubclass(TlsError, TransportError) and TlsError.code == "ERR_TLS"
    codes = {cls.__name__: cls.code for cls in (CertificateUntrusted, CertificateNameMismatch, CertificateExpired, ClientCertificateRequired, TlsRequired, TlsNotOffered)}
    assert codes == {
        "CertificateUntrusted": "ERR_TLS_CERT_UNTRUSTED",
        "CertificateNameMismatch": "ERR_TLS_CERT_NAME_MISMATCH",
        "CertificateExpired": "ERR_TLS_CERT_EXPIRED",
        "ClientCertificateRequired": "ERR_TLS_CLIENT_CERT_REQUIRED",
        "TlsRequired": "ERR_TLS_REQUIRED",
        "TlsNotOffered": "ERR_TLS_NOT_OFFERED",
    }
    assert all(issubclass(getattr(wirecall, n), TlsError) for n in codes)


def test_mutual_tls_asyncio_with_the_peer_identity(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server({"whoami": whoami}, tls=mtls_server(certs)) as server:
            ep = await server.listen("tls://127.0.0.1:0")
            assert ep.startswith("tls://127.0.0.1:")
            conn = await aio.connect(ep, tls=TlsOptions(ca=certs.ca, cert=certs.client.cert, key=certs.client.key))
            seen = (await conn.call("whoami"))["tls"]
            assert seen["authorized"] is True
            assert seen["subject"] == {"O": "wirecall tests", "CN": "render-07"}
            assert seen["issuer"] == {"CN": "wirecall test CA"}
            assert seen["subjectAltNames"] == ["DNS:render-07.studio"]
            assert seen["protocol"] in ("TLSv1.2", "TLSv1.3")
            assert len(seen["fingerprint256"].split(":")) == 32
            assert conn.peer is not None and conn.peer.tls.subject["CN"] == "localhost"
            assert "IP Address:127.0.0.1" in conn.peer.tls.subject_alt_names
            await conn.close()

    run(body())


def test_tls_without_client_certificates_and_pem_text(certs: TestCerts) -> None:
    pem = {name: Path(path).read_text() for name, path in (("cert", certs.server.cert), ("key", certs.server.key), ("ca", certs.ca))}

    async def body() -> None:
        async with aio.Server({"whoami": whoami}, tls={"cert": pem["cert"], "key": pem["key"].encode()}) as server:
            ep = await server.listen("tcp://127.0.0.1:0")  # the tls option makes it TLS
            assert ep.startswith("tls://")
            conn = await aio.connect(ep, tls={"ca": pem["ca"]})
            seen = (await conn.call("whoami"))["tls"]
            assert seen["subject"] is None and seen["authorized"] is False
            await conn.close()
            # servername: the certificate names localhost, we dial 127.0.0.1 by another name
            conn = await aio.connect(ep.replace("tls://", "tcp://"), tls={"ca": certs.ca, "servername": "localhost"})
            await conn.close()

    run(body())


def test_an_ssl_context_is_used_as_given(certs: TestCerts) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs.server.cert, certs.server.key)
    client_ctx = ssl.create_default_context(cafile=certs.ca)

    async def body() -> None:
        async with aio.Server({"whoami": whoami}, tls=server_ctx) as server:
            ep = await server.listen("tls://127.0.0.1:0")
            conn = await aio.connect(ep, tls=client_ctx)
            assert (await conn.call("whoami"))["tls"]["protocol"].startswith("TLSv1.")
            await conn.close()

    run(body())


def test_mutual_tls_blocking(certs: TestCerts) -> None:
    server = wirecall.Server(tls=mtls_server(certs))
    server.register("whoami", whoami)
    try:
        ep = server.listen("tls://127.0.0.1:0")
        with wirecall.connect(ep, tls={"ca": certs.ca, "cert": certs.client.cert, "key": certs.client.key}) as conn:
            assert conn.call("whoami")["tls"]["subject"]["CN"] == "render-07"
        with pytest.raises(ClientCertificateRequired):
            wirecall.connect(ep, tls={"ca": certs.ca})
    finally:
        server.close()


def test_options_are_checked(certs: TestCerts) -> None:
    with pytest.raises(InvalidOption):
        aio.Server(tls={"cert": certs.server.cert})
    with pytest.raises(InvalidOption):
        aio.Server(tls={"cert": certs.server.cert, "key": certs.server.key, "require_client_cert": True})
    with pytest.raises(InvalidOption):
        aio.Server(tls={"cert": "/nonexistent.pem", "key": certs.server.key})
    with pytest.raises(InvalidOption):
        aio.Server(tls={"cert": certs.server.cert, "key": certs.server.key, "min_version": "TLSv1.1"})
    with pytest.raises(InvalidOption):
        aio.Server(tls={"certificate": certs.server.cert})

    async def body() -> None:
        async with aio.Server() as server:
            with pytest.raises(InvalidOption):
                await server.listen("tls://127.0.0.1:0")

    run(body())


async def refused(ep: str, tls: Any, **options: Any) -> BaseException:
    try:
        conn = await aio.connect(ep, tls=tls, **options)
    except Exception as e:
        return e
    await conn.close()
    raise AssertionError("connected")


@pytest.mark.parametrize(
    "served, expected",
    [("stranger", CertificateUntrusted), ("wrong_name", CertificateNameMismatch), ("expired", CertificateExpired)],
)
def test_the_server_certificate_is_checked(certs: TestCerts, served: str, expected: type) -> None:
    pair = getattr(certs, served)

    async def body() -> None:
        async with aio.Server(tls={"cert": pair.cert, "key": pair.key}) as server:
            ep = await server.listen("tls://127.0.0.1:0")
            err = await refused(ep, {"ca": certs.ca})
            assert type(err) is expected, err
            # reject_unauthorized=False turns the checks off (development only)
            conn = await aio.connect(ep, tls={"reject_unauthorized": False})
            await conn.close()

    run(body())


def test_mutual_tls_refusals(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server(tls=mtls_server(certs)) as server:
            ep = await server.listen("tls://127.0.0.1:0")
            err = await refused(ep, {"ca": certs.ca})
            assert type(err) is ClientCertificateRequired and "TLS_CLIENT_CERT_REQUIRED" in str(err)
            # a certificate the server does not trust: refused in the TLS handshake (see README)
            err = await refused(ep, {"ca": certs.ca, "cert": certs.stranger_client.cert, "key": certs.stranger_client.key})
            assert isinstance(err, TlsError), err
            err = await refused(ep, {"ca": certs.ca, "cert": certs.expired.cert, "key": certs.expired.key})
            assert isinstance(err, TlsError), err
            assert not server.connections

    run(body())


def test_a_plain_client_on_a_tls_port_is_told(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server(tls=mtls_server(certs)) as server:
            ep = await server.listen("tls://127.0.0.1:0")
            err = await refused(ep.replace("tls://", "tcp://"), None)
            assert type(err) is TlsRequired and "requires TLS" in str(err)

    run(body())


def test_a_tls_client_on_a_plain_port(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server() as server:
            ep = await server.listen("tcp://127.0.0.1:0")
            err = await refused(ep.replace("tcp://", "tls://"), {"ca": certs.ca})
            assert type(err) is TlsNotOffered, err

    run(body())


def test_the_tls_handshake_is_bounded_by_the_handshake_timeout(certs: TestCerts) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:

        async def body() -> None:
            err = await refused(f"tls://127.0.0.1:{port}", {"ca": certs.ca}, handshake_timeout=0.3)
            assert isinstance(err, HandshakeTimeout), err

        run(body())
    finally:
        silent.close()


def test_a_silent_socket_on_a_tls_port_is_dropped(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server(tls=mtls_server(certs), handshake_timeout=0.3) as server:
            ep = parse_endpoint(await server.listen("tls://127.0.0.1:0"))
            reader, writer = await asyncio.open_connection(ep.host, ep.port)
            assert await asyncio.wait_for(reader.read(), 3) == b""  # closed by the server
            writer.close()

    run(body())


def test_many_tls_clients_at_once(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server({"add": lambda p: p[0] + p[1]}, tls=mtls_server(certs)) as server:
            ep = await server.listen("tls://127.0.0.1:0")
            tls = {"ca": certs.ca, "cert": certs.client.cert, "key": certs.client.key}
            conns = await asyncio.gather(*(aio.connect(ep, tls=tls) for _ in range(8)))
            assert await asyncio.gather(*(c.call("add", [i, 1]) for i, c in enumerate(conns))) == list(range(1, 9))
            await asyncio.gather(*(c.close() for c in conns))

    run(body())


def test_the_server_is_told_of_each_tls_failure(certs: TestCerts) -> None:
    seen: list = []

    async def body() -> None:
        server = aio.Server(tls=mtls_server(certs), handshake_timeout=0.3, on_connection_error=lambda e, address: seen.append(type(e)))
        async with server:
            ep = await server.listen("tls://127.0.0.1:0")

            async def told(expected: type) -> None:
                for _ in range(100):
                    if expected in seen:
                        return
                    await asyncio.sleep(0.02)
                raise AssertionError(f"{expected.__name__} not in {seen}")

            await refused(ep.replace("tls://", "tcp://"), None)
            await told(TlsRequired)
            await refused(ep, {"ca": certs.ca})
            await told(ClientCertificateRequired)
            await refused(ep, {"ca": certs.ca, "cert": certs.stranger_client.cert, "key": certs.stranger_client.key})
            await told(CertificateUntrusted)
            await refused(ep, {"ca": certs.ca, "cert": certs.expired.cert, "key": certs.expired.key})
            await told(CertificateExpired)
            e = parse_endpoint(ep)
            reader, writer = await asyncio.open_connection(e.host, e.port)
            await told(HandshakeTimeout)  # silent
            writer.close()
            seen.clear()
            reader, writer = await asyncio.open_connection(e.host, e.port)
            writer.write(b"\x16\x03\x01\x00\x40")  # the start of a TLS record, then nothing
            await told(HandshakeTimeout)  # stalled in the TLS handshake
            writer.close()

    run(body())


def test_sockets_before_tls_count_toward_max_connections(certs: TestCerts) -> None:
    async def body() -> None:
        async with aio.Server(tls=mtls_server(certs), max_connections=2, handshake_timeout=5) as server:
            e = parse_endpoint(await server.listen("tls://127.0.0.1:0"))
            held = [await asyncio.open_connection(e.host, e.port) for _ in range(2)]  # silent: still before TLS
            await asyncio.sleep(0.1)
            reader, writer = await asyncio.open_connection(e.host, e.port)
            assert await asyncio.wait_for(reader.read(), 2) == b""  # closed at once, not after 5 s
            writer.close()
            for _, w in held:
                w.close()
            await asyncio.sleep(0.1)
            conn = await aio.connect(str(e), tls={"ca": certs.ca, "cert": certs.client.cert, "key": certs.client.key})
            await conn.close()

    run(body())
