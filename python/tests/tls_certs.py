"""Test certificates made with the ``openssl`` CLI into a directory, as src/test-util/tls-certs.ts:
EC P-256 keys, SHA-256 signatures.

    ca          the CA the tests trust; signs server, client, expired, wrong_name
    other_ca    a CA nobody trusts; signs stranger (server) and stranger_client
    server      CN=localhost, SAN DNS:localhost, IP:127.0.0.1
    client      CN=render-07, SAN DNS:render-07.studio
    expired     like server, but its notAfter was yesterday
    wrong_name  CN=elsewhere.example, SAN DNS:elsewhere.example only
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class KeyPair:
    cert: str  # file paths
    key: str


@dataclass
class TestCerts:
    __test__ = False  # not a test class
    dir: Path
    ca: str
    other_ca: str
    server: KeyPair
    client: KeyPair
    expired: KeyPair
    wrong_name: KeyPair
    stranger: KeyPair
    stranger_client: KeyPair


def has_openssl() -> bool:
    return shutil.which("openssl") is not None


def _openssl(d: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _new_key(d: Path, name: str) -> None:
    _openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key")


def _ca(d: Path, name: str, cn: str) -> str:
    _new_key(d, name)
    # keyUsage on the CA: ssl.create_default_context() checks it from Python 3.13 (VERIFY_X509_STRICT)
    ext = ("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl(d, "req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", "2", "-subj", f"/CN={cn}", *ext, "-out", f"{name}.pem")
    return str(d / f"{name}.pem")


def _issue(d: Path, ca: str, name: str, cn: str, san: str, days: int) -> KeyPair:
    _new_key(d, name)
    _openssl(d, "req", "-new", "-key", f"{name}.key", "-subj", f"/O=wirecall tests/CN={cn}", "-out", f"{name}.csr")
    (d / f"{name}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n")
    # A negative -days puts notAfter in the past: an expired certificate.
    _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial", "-sha256", "-days", str(days), "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    return KeyPair(str(d / f"{name}.pem"), str(d / f"{name}.key"))


def make_test_certs(d: Path) -> TestCerts:
    return TestCerts(
        dir=d,
        ca=_ca(d, "ca", "wirecall test CA"),
        other_ca=_ca(d, "other-ca", "untrusted test CA"),
        server=_issue(d, "ca", "server", "localhost", "DNS:localhost,IP:127.0.0.1", 2),
        client=_issue(d, "ca", "client", "render-07", "DNS:render-07.studio", 2),
        expired=_issue(d, "ca", "expired", "localhost", "DNS:localhost,IP:127.0.0.1", -1),
        wrong_name=_issue(d, "ca", "wrong-name", "elsewhere.example", "DNS:elsewhere.example", 2),
        stranger=_issue(d, "other-ca", "stranger", "localhost", "DNS:localhost,IP:127.0.0.1", 2),
        stranger_client=_issue(d, "other-ca", "stranger-client", "intruder", "DNS:intruder.example", 2),
    )
