"""services.json timestamps, the twin of src/manager/registry/timestamp.ts.

dcc-mcp-core's Rust side writes ``{"secs_since_epoch", "nanos_since_epoch"}``, Python
plugins write integer or float Unix seconds; all three are read, the object form is
written. In memory a timestamp is float seconds since the Unix epoch (``time.time()``).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

__all__ = ["to_wire_timestamp", "wire_timestamp_ns", "from_wire_timestamp", "safe_int"]

_NANOS = 1_000_000_000
_MAX_SAFE = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER: what the TypeScript reader accepts


def safe_int(v: Any) -> Optional[int]:
    """``v`` as an int if JavaScript's Number.isSafeInteger would accept it (1.0 included), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -_MAX_SAFE <= v <= _MAX_SAFE else None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) <= _MAX_SAFE:
        return int(v)
    return None


def to_wire_timestamp(seconds: float) -> Dict[str, int]:
    """Float seconds -> ``{"secs_since_epoch", "nanos_since_epoch"}`` (rounded to the nanosecond)."""
    secs = math.floor(seconds)
    nanos = round((seconds - secs) * _NANOS)
    if nanos >= _NANOS:  # rounding can carry into the next second
        secs += 1
        nanos -= _NANOS
    return {"secs_since_epoch": int(secs), "nanos_since_epoch": int(nanos)}


def wire_timestamp_ns(ns: int) -> Dict[str, int]:
    """Integer nanoseconds (``time.time_ns()``) -> the object form, exactly."""
    return {"secs_since_epoch": ns // _NANOS, "nanos_since_epoch": ns % _NANOS}


def from_wire_timestamp(value: Any) -> Optional[float]:
    """Float seconds, or None when ``value`` is not a timestamp in any known form."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, dict):
        return None
    secs = safe_int(value.get("secs_since_epoch"))
    nanos = safe_int(value.get("nanos_since_epoch"))
    if secs is None or secs < 0 or nanos is None or nanos < 0 or nanos >= _NANOS:
        return None
    return secs + nanos / _NANOS
