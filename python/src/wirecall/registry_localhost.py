"""Is a host name or address this machine? For routing a registry row: local TCP is
preferred to remote TCP (registry_address.locality)."""

from __future__ import annotations

import socket
import sys
import time
from typing import FrozenSet, Set, Tuple

__all__ = ["is_local_host"]

_LOOPBACK = frozenset(["127.0.0.1", "::1", "localhost", "0.0.0.0", "::"])
_local_cache: Tuple[float, FrozenSet[str]] = (0.0, frozenset())


def is_local_host(host: str) -> bool:
    """True when ``host`` names this machine (loopback, any-address, our host name or an address of ours)."""
    h = host.lower()
    if h.startswith("::ffff:"):
        h = h[len("::ffff:") :]  # IPv4-mapped IPv6
    if h in _LOOPBACK or h.startswith("127."):
        return True
    if h == socket.gethostname().lower():
        return True
    return h in _local_addresses()


def _local_addresses() -> FrozenSet[str]:
    """The addresses of this machine's interfaces (cached for 30 s)."""
    global _local_cache
    stamp, addrs = _local_cache
    if time.monotonic() - stamp < 30 and stamp != 0.0:
        return addrs
    found: Set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]).split("%")[0].lower())
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        found |= _linux_addresses()
    addrs = frozenset(found)
    _local_cache = (time.monotonic(), addrs)
    return addrs


def _linux_addresses() -> Set[str]:
    found: Set[str] = set()
    try:  # IPv6: 32 hex digits per line
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                hexa = line.split()[0]
                found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexa)).lower())
    except (OSError, ValueError, IndexError):
        pass
    try:  # IPv4: the "/32 host LOCAL" entries of the routing trie
        with open("/proc/net/fib_trie", encoding="ascii") as f:
            previous = ""
            for line in f:
                if "/32 host LOCAL" in line and previous:
                    found.add(previous)
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "|--":
                    previous = parts[1]
    except OSError:
        pass
    return found
