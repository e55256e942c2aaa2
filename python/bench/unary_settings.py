"""The unary benchmark's settings, from the environment (see unary.py), and where the
TypeScript build is."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TS_DIST = Path(os.environ.get("WIRECALL_TS_DIST", str(REPO / "dist")))
N = int(os.environ.get("N", "10000"))
PIPELINE = int(os.environ.get("PIPELINE", "64"))
REPEAT = int(os.environ.get("REPEAT", "1"))
CHUNKS_N = int(os.environ.get("CHUNKS_N", "2000"))
CHUNK_SIZE = int(os.environ.get("CHUNK_SIZE", "65536"))
