"""What TLS says about the peer (``ctx.peer.tls``, as TypeScript's ``peer.tls``) and TLS failures
as the typed errors of docs/TLS.md: from ``ssl``'s exceptions, and from a TLS server's REJECT."""

from __future__ import annotations

import hashlib
import ssl
from typing import Any, Dict, List, Optional, Tuple, Type

from .errors import (
    CertificateExpired,
    CertificateNameMismatch,
    CertificateUntrusted,
    ClientCertificateRequired,
    TlsError,
    TlsNotOffered,
    TlsRequired,
)

__all__ = ["TlsPeer", "tls_peer", "tls_failure", "tls_rejection", "TLS_REQUIRED_REASON", "client_cert_refusal"]

_SHORT = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "emailAddress": "emailAddress",
}


class TlsPeer:
    """The TLS session and the peer's certificate; ``subject`` is None when it sent none.
    ``authorized``: its certificate was verified against our CAs. ``as_dict()`` has TypeScript's keys."""

    __slots__ = ("protocol", "cipher", "authorized", "subject", "issuer", "subject_alt_names", "fingerprint256", "serial_number", "valid_from", "valid_to")

    def __init__(self, protocol: Optional[str], cipher: Optional[str], authorized: bool, cert: Dict[str, Any], der: Optional[bytes]) -> None:
        self.protocol = protocol
        self.cipher = cipher
        self.authorized = authorized
        self.subject: Optional[Dict[str, str]] = _names(cert["subject"]) if "subject" in cert else None
        self.issuer: Optional[Dict[str, str]] = _names(cert["issuer"]) if "issuer" in cert else None
        self.subject_alt_names: List[str] = [f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ())]
        self.fingerprint256: Optional[str] = None if der is None else ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        self.serial_number: Optional[str] = cert.get("serialNumber")
        self.valid_from: Optional[str] = cert.get("notBefore")
        self.valid_to: Optional[str] = cert.get("notAfter")

    def as_dict(self) -> Dict[str, Any]:
        return {
            "protocol": self.protocol,
            "cipher": self.cipher,
            "authorized": self.authorized,
            "subject": self.subject,
            "issuer": self.issuer,
            "subjectAltNames": self.subject_alt_names,
            "fingerprint256": self.fingerprint256,
            "serialNumber": self.serial_number,
            "validFrom": self.valid_from,
            "validTo": self.valid_to,
        }

    def __repr__(self) -> str:
        return f"TlsPeer({self.as_dict()!r})"


def _names(rdns: Any) -> Dict[str, str]:
    return {_SHORT.get(k, k): v for rdn in rdns for k, v in rdn}


def tls_peer(obj: Any) -> TlsPeer:
    """The peer of an ``ssl.SSLObject`` whose handshake is done. ``getpeercert()`` is only filled
    in for a verified certificate: that is ``authorized``."""
    cert = obj.getpeercert() or {}
    cipher = obj.cipher()
    return TlsPeer(obj.version(), cipher[0] if cipher else None, bool(cert), cert, obj.getpeercert(binary_form=True))


def client_cert_refusal(obj: Any, url: str) -> Optional[Tuple[str, str]]:
    """Mutual TLS on a server: a client that sent no certificate gets REJECT TLS_CLIENT_CERT_REQUIRED.
    (One that sent an untrusted or expired certificate failed the TLS handshake already.)"""
    if obj.getpeercert(binary_form=True) is None:
        return ("TLS_CLIENT_CERT_REQUIRED", f"the client at {url} sent no certificate, and this server requires one (mutual TLS)")
    return None


_EXPIRED_CODES = (9, 10)  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
_NAME_CODES = (62, 63, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, _EMAIL_, _IP_ADDRESS_MISMATCH
_NOT_TLS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE")


def tls_failure(err: BaseException, side: str, url: str) -> Optional[TlsError]:
    """``ssl``'s exception as a typed TlsError, or None when it is not one of TLS. ``side`` is
    who saw it (``"client"`` or ``"server"``), ``url`` the other end. An alert is the peer's verdict
    on our certificate; a verification error our check of theirs."""
    if isinstance(err, TlsError):
        return err
    theirs = "the server's certificate" if side == "client" else "the client's certificate"
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or str(err)
        if err.verify_code in _EXPIRED_CODES:
            return CertificateExpired(f"{theirs} from {url} is expired or not yet valid ({why}); renew it", why)
        if err.verify_code in _NAME_CODES:
            return CertificateNameMismatch(f"{theirs} does not name the host dialled for {url} ({why}); connect by a name the certificate lists, or set tls servername", why)
        return CertificateUntrusted(f"{theirs} from {url} is not signed by a trusted CA ({why}); pass the CA that signed it as tls ca (--tls-ca)", why)
    if isinstance(err, ssl.SSLError):
        reason = str(getattr(err, "reason", None) or "")
        if "ALERT_UNKNOWN_CA" in reason or "ALERT_BAD_CERTIFICATE" in reason:
            return CertificateUntrusted(f"{url} does not trust our certificate ({reason}): it is not signed by a CA it trusts", reason)
        if "ALERT_CERTIFICATE_EXPIRED" in reason:
            return CertificateExpired(f"{url} refused our certificate as expired or not yet valid ({reason}); renew it", reason)
        if "CERTIFICATE_REQUIRED" in reason or "PEER_DID_NOT_RETURN_A_CERTIFICATE" in reason:
            if side == "client":
                return ClientCertificateRequired(f"{url} requires a client certificate (mutual TLS); pass tls cert and key (--tls-cert, --tls-key)", reason)
            return ClientCertificateRequired(f"the client at {url} sent no certificate, and this server requires one (mutual TLS)", reason)
        if reason in _NOT_TLS:
            if side == "client":
                return TlsNotOffered(f"{url} does not speak TLS (it answered the TLS handshake with plain bytes): connect with tcp://, or serve it with TLS", reason)
            return TlsRequired(f"the client at {url} does not speak TLS (it sent plain bytes to a TLS port)", reason)
        return TlsError(f"TLS with {url} failed: {err}", reason or None)
    return None


TLS_REQUIRED_REASON = "TLS_REQUIRED"

_REJECT_REASONS: Dict[str, Type[TlsError]] = {
    TLS_REQUIRED_REASON: TlsRequired,
    "TLS_CLIENT_CERT_REQUIRED": ClientCertificateRequired,
    "TLS_CERT_UNTRUSTED": CertificateUntrusted,
    "TLS_CERT_EXPIRED": CertificateExpired,
    "TLS_CERT_REFUSED": TlsError,
}
_ADVICE = {
    "TLS_REQUIRED": "connect with tls:// (or the tls option; any --tls-* flag on the command line)",
    "TLS_CLIENT_CERT_REQUIRED": "it requires a client certificate (mutual TLS): pass tls cert and key (--tls-cert, --tls-key)",
    "TLS_CERT_UNTRUSTED": "it does not trust our client certificate: use one signed by the CA it trusts",
    "TLS_CERT_EXPIRED": "our client certificate is expired or not yet valid: renew it",
}


def tls_rejection(reason: str, message: str, url: str) -> Optional[TlsError]:
    """A REJECT from a TLS server (or a plain client's REJECT TLS_REQUIRED) as the typed error it stands for."""
    make = _REJECT_REASONS.get(reason)
    if make is None:
        return None
    advice = _ADVICE.get(reason)
    return make(f"{url} refused the connection ({reason}): {message}" + (f"; {advice}" if advice else ""))
