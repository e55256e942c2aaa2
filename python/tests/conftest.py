"""Shared fixtures: paths, the TypeScript CLI, and a bounded time for every test."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent
REPO = PYTHON_DIR.parent
VECTORS = REPO / "spec" / "vectors.json"
TS_CLI = REPO / "dist" / "src" / "cli" / "main.js"
TS_INDEX = REPO / "dist" / "src" / "index.js"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def node_available() -> bool:
    return shutil.which("node") is not None and TS_CLI.exists() and TS_INDEX.exists()


requires_node = pytest.mark.skipif(not node_available(), reason="node or the TypeScript build (npm run build) is missing")
