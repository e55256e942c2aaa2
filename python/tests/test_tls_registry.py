"""Registry rows of TLS servers (docs/MANAGER.md, "Rows advertise TLS"): a Python server registered
with a tls:// endpoint writes ``extras.wirecall.tls: true``; a Python client connects with TLS to
such a row, its own and the TypeScript side's; the TypeScript CLI to a Python row."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

import wirecall
from conftest import REPO, TS_CLI, requires_node
from tls_certs import TestCerts, has_openssl, make_test_certs
from wirecall.registry import FileRegistry

pytestmark = pytest.mark.skipif(not has_openssl(), reason="the openssl CLI is missing")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCerts]:
    yield make_test_certs(tmp_path_factory.mktemp("tls"))


def mine(c: TestCerts) -> dict:
    return {"ca": c.ca, "cert": c.client.cert, "key": c.client.key}


def test_a_tls_row_says_so_and_is_connected_with_tls(certs: TestCerts, tmp_path: Path) -> None:
    server = wirecall.Server(tls={"cert": certs.server.cert, "key": certs.server.key, "ca": certs.ca, "require_client_cert": True})
    server.register("echo", lambda p: p)
    reg = FileRegistry(str(tmp_path))
    try:
        ep = server.listen("tls://127.0.0.1:0")
        reg.register("houdini", ep, extra={"extras": {"studio": {"farm": "a"}}})
        plain = reg.register("maya", "tcp://127.0.0.1:9")
        rows = json.loads((tmp_path / "services.json").read_text())
        rows = rows if isinstance(rows, list) else rows.get("services", rows)
        row = next(r for r in rows if r["dcc_type"] == "houdini")
        assert row["extras"] == {"studio": {"farm": "a"}, "wirecall": {"tls": True}}
        assert "extras" not in next(r for r in rows if r["dcc_type"] == "maya")
        entry = reg.list_instances("houdini")[0]
        assert entry.tls is True and entry.endpoint == ep
        assert plain.tls is False and plain.endpoint.startswith("tcp://")
        with wirecall.connect(entry.endpoint, tls=mine(certs) if entry.tls else None) as conn:
            assert conn.call("echo", "hi") == "hi"
    finally:
        reg.close()
        server.close()


@requires_node
def test_rows_across_languages(certs: TestCerts, tmp_path: Path) -> None:
    ts = subprocess.Popen(
        ["node", str(TS_CLI), "serve", "tls://127.0.0.1:0", "--tls-cert", certs.server.cert, "--tls-key", certs.server.key, "--register", "nuke", "--registry-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
    )
    server = wirecall.Server(tls={"cert": certs.server.cert, "key": certs.server.key, "ca": certs.ca, "require_client_cert": True})
    reg = FileRegistry(str(tmp_path))
    try:
        assert ts.stdout.readline().startswith("listening on tls://")  # type: ignore[union-attr]
        for _ in range(100):  # the TS server registers right after it listens
            if reg.list_instances("nuke"):
                break
            time.sleep(0.05)
        entry = reg.list_instances("nuke")[0]
        assert entry.tls is True and entry.endpoint.startswith("tls://")
        with wirecall.connect(entry.endpoint, tls={"ca": certs.ca}) as conn:
            assert conn.call("echo", "x") == "x"
        reg.register("houdini", server.listen("tls://127.0.0.1:0"))
        server.register("echo", lambda p: p)
        env = dict(os.environ, WIRECALL_REGISTRY_DIR=str(tmp_path))
        env.pop("WIRECALL_REGISTRY", None)
        flags = ["--tls-ca", certs.ca, "--tls-cert", certs.client.cert, "--tls-key", certs.client.key]
        out = subprocess.run(["node", str(TS_CLI), "call", "houdini", "echo", '"hi"', *flags], capture_output=True, text=True, timeout=30, cwd=str(REPO), env=env)
        assert out.returncode == 0 and out.stdout.strip() == '"hi"', out.stderr
    finally:
        reg.close()
        server.close()
        ts.terminate()
        ts.wait(5)
