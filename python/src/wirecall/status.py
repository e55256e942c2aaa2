"""Call status codes (docs/PROTOCOL.md 7.1); the numbers of src/status.ts."""

from __future__ import annotations

import enum

__all__ = ["Status", "status_name"]


class Status(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    METHOD_ERROR = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    METHOD_NOT_FOUND = 12
    SERVER_ERROR = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


def status_name(status: int) -> str:
    """``"METHOD_NOT_FOUND"`` for 12; ``"STATUS_<n>"`` for a number no name has."""
    try:
        return Status(status).name
    except ValueError:
        return f"STATUS_{status}"
