"""python/examples: the DCC servers run with their stand-in main loops, called from the TS
and the Python CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import List

import pytest

from conftest import PYTHON_DIR, REPO, TS_CLI, node_available

EXAMPLES = [
    ("maya_server.py", "scene.objects", ["persp", "top", "pCube1"]),
    ("blender_server.py", "scene.objects", ["Camera", "Cube", "Light"]),
    ("houdini_server.py", "node.children", ["geo1", "cam1"]),
]


@pytest.mark.parametrize("script,method,expected", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_serves_from_its_main_thread(script: str, method: str, expected: List[str]) -> None:
    p = subprocess.Popen([sys.executable, str(PYTHON_DIR / "examples" / script), "tcp://127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()  # type: ignore[union-attr]
        assert line.startswith("listening on "), (line, p.stderr.read() if p.poll() is not None else "")  # type: ignore[union-attr]
        ep = line[len("listening on ") :]
        if node_available():
            cmd = ["node", str(TS_CLI), "call", ep, method]
        else:
            cmd = [sys.executable, "-m", "wirecall", "call", ep, method]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=str(REPO))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == expected
    finally:
        p.terminate()
        assert p.wait(10) == 0
