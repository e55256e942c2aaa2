"""The ``tls`` option (docs/TLS.md; the TypeScript side's src/transport/tls-options.ts) and the
``ssl.SSLContext`` it makes, for clients and for servers.

``tls`` is an ``ssl.SSLContext`` (used as given), a :class:`TlsOptions`, or a dict of its
fields. ``cert``, ``key`` and ``ca`` are file paths or PEM text (str or bytes).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, fields
from typing import Any, Mapping, Optional, Union

from .errors import InvalidOption

__all__ = ["TlsOptions", "TlsOption", "tls_options", "client_context", "server_context"]

Pem = Union[str, bytes]


@dataclass
class TlsOptions:
    """TLS settings, named as in TypeScript (``requestCert`` → ``require_client_cert``…).

    - ``cert``, ``key``: our certificate (chain) and key: a server's, or a client's for mutual TLS.
    - ``ca``: the CAs we trust (a client: the server's; a server: its clients'). A client without
      it trusts the system's CAs.
    - ``servername``: the name the server's certificate must carry (default: the host dialled).
    - ``require_client_cert``: a server asks every client for a certificate signed by ``ca``.
    - ``reject_unauthorized``: ``False`` turns every check off (development only).
    - ``min_version``: ``"TLSv1.2"`` (default) or ``"TLSv1.3"``; ``passphrase``: an encrypted key's.
    """

    cert: Optional[Pem] = None
    key: Optional[Pem] = None
    ca: Optional[Pem] = None
    servername: Optional[str] = None
    require_client_cert: bool = False
    reject_unauthorized: bool = True
    min_version: str = "TLSv1.2"
    passphrase: Optional[str] = None


TlsOption = Union[ssl.SSLContext, TlsOptions, Mapping[str, Any]]


def tls_options(value: Any) -> Union[ssl.SSLContext, TlsOptions]:
    """The ``tls`` option checked: an SSLContext, or TlsOptions (from a dict of its fields)."""
    if isinstance(value, (ssl.SSLContext, TlsOptions)):
        return value
    if isinstance(value, Mapping):
        known = {f.name for f in fields(TlsOptions)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidOption(f"tls: unknown option(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        return TlsOptions(**value)
    raise InvalidOption(f"tls must be an ssl.SSLContext, a TlsOptions or a dict, got {type(value).__name__}")


def _is_pem(value: Pem) -> bool:
    return isinstance(value, bytes) or "-----BEGIN" in value


def _text(value: Pem, what: str) -> str:
    """PEM text from PEM or a file path."""
    if _is_pem(value):
        return value.decode("ascii") if isinstance(value, bytes) else value
    assert isinstance(value, str)
    try:
        with open(value, encoding="ascii") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidOption(f"tls.{what}: cannot read {value}: {getattr(e, 'strerror', None) or e}") from None


def _load_chain(ctx: ssl.SSLContext, o: TlsOptions) -> None:
    assert o.cert is not None and o.key is not None
    # ssl loads certificates and keys from files only: PEM text goes through a private temporary file.
    temps = []
    try:
        paths = []
        for value, what in ((o.cert, "cert"), (o.key, "key")):
            if _is_pem(value):
                fd, path = tempfile.mkstemp(prefix="wirecall-tls-", suffix=".pem")
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(_text(value, what))
                temps.append(path)
                paths.append(path)
            else:
                paths.append(str(value))
        ctx.load_cert_chain(paths[0], paths[1], password=o.passphrase)
    except (OSError, ssl.SSLError) as e:
        raise InvalidOption(f"tls.cert/tls.key: cannot load the certificate and key: {getattr(e, 'strerror', None) or e}") from None
    finally:
        for path in temps:
            os.unlink(path)


def _common(ctx: ssl.SSLContext, o: TlsOptions) -> None:
    if o.min_version not in ("TLSv1.2", "TLSv1.3"):
        raise InvalidOption(f'tls.min_version must be "TLSv1.2" or "TLSv1.3", got {o.min_version!r}')
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if o.min_version == "TLSv1.3" else ssl.TLSVersion.TLSv1_2
    if (o.cert is None) != (o.key is None):
        raise InvalidOption("tls.cert and tls.key go together")
    if o.ca is not None:
        try:
            ctx.load_verify_locations(cadata=_text(o.ca, "ca"))
        except ssl.SSLError as e:
            raise InvalidOption(f"tls.ca: not PEM certificates ({e})") from None
    if o.cert is not None:
        _load_chain(ctx, o)


def client_context(option: Union[ssl.SSLContext, TlsOptions]) -> ssl.SSLContext:
    """A client's context: the server's certificate and name checked, TLS 1.2 at least."""
    if isinstance(option, ssl.SSLContext):
        return option
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if option.ca is None:
        ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    _common(ctx, option)
    if not option.reject_unauthorized:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_context(option: Union[ssl.SSLContext, TlsOptions]) -> ssl.SSLContext:
    """A server's context. With ``require_client_cert``, clients are asked for a certificate
    (CERT_OPTIONAL: a client without one is told so in a REJECT, as by the TypeScript server)."""
    if isinstance(option, ssl.SSLContext):
        return option
    if option.cert is None or option.key is None:
        raise InvalidOption("a TLS server needs tls.cert and tls.key")
    if option.require_client_cert and option.ca is None:
        raise InvalidOption("tls.require_client_cert needs tls.ca (the CA that signs the clients' certificates)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _common(ctx, option)
    ctx.verify_mode = ssl.CERT_OPTIONAL if option.require_client_cert and option.reject_unauthorized else ssl.CERT_NONE
    return ctx


def requires_client_cert(option: Union[ssl.SSLContext, TlsOptions]) -> bool:
    """Whether a server refuses clients without a certificate."""
    if isinstance(option, ssl.SSLContext):
        return option.verify_mode == ssl.CERT_REQUIRED
    return option.require_client_cert and option.reject_unauthorized
