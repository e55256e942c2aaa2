"""TLS across languages (needs node, `npm run build` and openssl): a TypeScript TLS server called
by Python clients, and a Python TLS server called by the TypeScript CLI, with mutual TLS and the
typed errors each side sees."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Iterator, List

import pytest

import wirecall
from conftest import REPO, TS_CLI, requires_node, run
from tls_certs import TestCerts, has_openssl, make_test_certs
from wirecall import aio
from wirecall.errors import CertificateUntrusted, ClientCertificateRequired, TlsNotOffered, TlsRequired

pytestmark = [requires_node, pytest.mark.skipif(not has_openssl(), reason="the openssl CLI is missing")]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCerts]:
    yield make_test_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def ts_tls_server(certs: TestCerts) -> Iterator[str]:
    args = ["serve", "tls://127.0.0.1:0", "--tls-cert", certs.server.cert, "--tls-key", certs.server.key, "--tls-ca", certs.ca]
    p = subprocess.Popen(["node", str(TS_CLI), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    line = p.stdout.readline().strip()  # type: ignore[union-attr]
    assert line.startswith("listening on tls://"), line
    yield line[len("listening on ") :]
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()


def test_python_client_with_mutual_tls_calls_the_ts_server(ts_tls_server: str, certs: TestCerts) -> None:
    async def body() -> None:
        conn = await aio.connect(ts_tls_server, tls={"ca": certs.ca, "cert": certs.client.cert, "key": certs.client.key})
        me = await conn.call("whoami")
        assert me["tls"]["subject"]["CN"] == "render-07" and me["tls"]["authorized"] is True
        assert conn.peer is not None and conn.peer.tls.subject["CN"] == "localhost"
        assert await conn.call("add", {"a": 2, "b": 3}) == 5
        await conn.close()

    run(body())
    with wirecall.connect(ts_tls_server, tls={"ca": certs.ca, "cert": certs.client.cert, "key": certs.client.key}) as conn:
        assert conn.call("echo", "hi") == "hi"


def test_the_ts_server_refusals_are_typed_in_python(ts_tls_server: str, certs: TestCerts) -> None:
    async def refused(ep: str, tls: Any) -> BaseException:
        try:
            conn = await aio.connect(ep, tls=tls)
        except Exception as e:
            return e
        await conn.close()
        raise AssertionError("connected")

    async def body() -> None:
        assert type(await refused(ts_tls_server, {"ca": certs.ca})) is ClientCertificateRequired
        assert type(await refused(ts_tls_server, {"ca": certs.other_ca})) is CertificateUntrusted
        err = await refused(ts_tls_server, {"ca": certs.ca, "cert": certs.stranger_client.cert, "key": certs.stranger_client.key})
        assert type(err) is CertificateUntrusted, err
        assert type(await refused(ts_tls_server.replace("tls://", "tcp://"), None)) is TlsRequired

    run(body())


def ts_call(ep: str, method: str, *flags: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(["node", str(TS_CLI), "call", ep, method, *flags], capture_output=True, text=True, timeout=30, cwd=str(REPO))


def test_ts_client_with_mutual_tls_calls_the_python_server(certs: TestCerts) -> None:
    server = wirecall.Server(tls={"cert": certs.server.cert, "key": certs.server.key, "ca": certs.ca, "require_client_cert": True})
    server.register("whoami", lambda params, ctx: ctx.peer.as_dict())
    try:
        ep = server.listen("tls://127.0.0.1:0")
        mine: List[str] = ["--tls-ca", certs.ca, "--tls-cert", certs.client.cert, "--tls-key", certs.client.key]
        out = ts_call(ep, "whoami", *mine)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["tls"]["subject"] == {"O": "wirecall tests", "CN": "render-07"}
        out = ts_call(ep, "whoami", "--tls-ca", certs.ca)
        assert out.returncode == 3 and "ERR_TLS_CLIENT_CERT_REQUIRED" in out.stderr, out.stderr
        out = ts_call(ep.replace("tls://", "tcp://"), "whoami")
        assert out.returncode == 3 and "ERR_TLS_REQUIRED" in out.stderr, out.stderr
        out = ts_call(ep, "whoami", "--tls-ca", certs.other_ca, "--tls-cert", certs.client.cert, "--tls-key", certs.client.key)
        assert out.returncode == 3 and "ERR_TLS_CERT_UNTRUSTED" in out.stderr, out.stderr
    finally:
        server.close()


def test_ts_tls_client_on_a_python_plain_port(certs: TestCerts) -> None:
    server = wirecall.Server()
    try:
        ep = server.listen("tcp://127.0.0.1:0")
        out = ts_call(ep.replace("tcp://", "tls://"), "whoami", "--tls-ca", certs.ca)
        assert out.returncode == 3 and "ERR_TLS_NOT_OFFERED" in out.stderr, out.stderr
    finally:
        server.close()


def test_python_tls_client_on_a_ts_plain_port(certs: TestCerts) -> None:
    p = subprocess.Popen(["node", str(TS_CLI), "serve", "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        ep = p.stdout.readline().strip()[len("listening on ") :]  # type: ignore[union-attr]

        async def body() -> None:
            with pytest.raises(TlsNotOffered):
                await aio.connect(ep.replace("tcp://", "tls://"), tls={"ca": certs.ca})

        run(body())
    finally:
        p.terminate()
        p.wait(5)


def test_the_clis_with_tls_flags(certs: TestCerts) -> None:
    """python -m wirecall serve with mutual TLS, called by both CLIs; the Python CLI calls the TS server."""
    import sys

    py = [sys.executable, "-m", "wirecall"]
    serve = ["serve", "tls://127.0.0.1:0", "--tls-cert", certs.server.cert, "--tls-key", certs.server.key, "--tls-ca", certs.ca]
    mine = ["--tls-ca", certs.ca, "--tls-cert", certs.client.cert, "--tls-key", certs.client.key]
    p = subprocess.Popen(py + serve, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("listening on tls://127.0.0.1:"), line + p.stderr.read()  # type: ignore[union-attr]
        ep = line[len("listening on ") :]
        out = ts_call(ep, "whoami", *mine)
        assert out.returncode == 0 and json.loads(out.stdout)["tls"]["subject"]["CN"] == "render-07", out.stderr
        r = subprocess.run(py + ["call", ep, "whoami", *mine], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and json.loads(r.stdout)["tls"]["subject"]["CN"] == "render-07", r.stderr
        r = subprocess.run(py + ["ping", ep.replace("tls://", "tcp://"), "--tls-servername", "localhost", *mine], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "pong" in r.stdout, r.stderr
        r = subprocess.run(py + ["call", ep, "whoami", "--tls-ca", certs.ca], capture_output=True, text=True, timeout=30)
        assert r.returncode == 3 and "error: ERR_TLS_CLIENT_CERT_REQUIRED:" in r.stderr, r.stderr
        r = subprocess.run(py + ["call", ep, "whoami", "--tls-cert", certs.client.cert], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "ERR_INVALID_OPTION" in r.stderr, r.stderr
    finally:
        p.terminate()
        p.wait(5)
    ts = subprocess.Popen(["node", str(TS_CLI), *serve], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        ep = ts.stdout.readline().strip()[len("listening on ") :]  # type: ignore[union-attr]
        r = subprocess.run(py + ["call", ep, "echo", '"hi"', *mine], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == '"hi"', r.stderr
        r = subprocess.run(py + ["call", ep.replace("tls://", "tcp://"), "echo", '"hi"'], capture_output=True, text=True, timeout=30)
        assert r.returncode == 3 and "error: ERR_TLS_REQUIRED:" in r.stderr, r.stderr
    finally:
        ts.terminate()
        ts.wait(5)
