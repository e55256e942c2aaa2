"""``--tls-cert/--tls-key/--tls-ca/--tls-servername`` of ``python -m wirecall`` (as the TypeScript
CLI's, src/cli/tls-flags.ts): a ``tls://`` endpoint turns TLS on, and so does any of them on a
``tcp://`` one; ``serve --tls-ca`` means mutual TLS."""

from __future__ import annotations

import argparse
from typing import Any, Dict, Optional

__all__ = ["add_tls_flags", "tls_from_flags"]


def add_tls_flags(p: argparse.ArgumentParser, server: bool) -> None:
    p.add_argument("--tls-cert", metavar="FILE", help="TLS: the server certificate (PEM)" if server else "TLS: our certificate (PEM), for mutual TLS")
    p.add_argument("--tls-key", metavar="FILE", help="TLS: the private key of --tls-cert (PEM)")
    p.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="TLS: require client certificates signed by these CAs (PEM): mutual TLS" if server else "TLS: trust these CAs (PEM) instead of the system's",
    )
    if not server:
        p.add_argument("--tls-servername", metavar="NAME", help="TLS: the name the server's certificate must carry (default: the host dialled)")


def tls_from_flags(args: argparse.Namespace, server: bool) -> Optional[Dict[str, Any]]:
    """The ``tls`` option the flags give, or None when none is set."""
    tls: Dict[str, Any] = {}
    for flag, key in (("tls_cert", "cert"), ("tls_key", "key"), ("tls_ca", "ca"), ("tls_servername", "servername")):
        value = getattr(args, flag, None)
        if value:
            tls[key] = value
    if not tls:
        return None
    if server and "ca" in tls:
        tls["require_client_cert"] = True
    return tls
