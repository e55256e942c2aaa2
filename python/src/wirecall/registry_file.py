"""services.json on disk (the twin of src/manager/registry/registry-file.ts and temp-files.ts):
read and classify, write atomically, move a corrupt file aside, remove dead writers' temp files.

Writers replace the file by rename, so a reader always sees one whole version. The
temp file is ``services.json.<32-bit unsigned decimal>``, the names the TypeScript writer
(write-file-atomic) uses, so either side cleans up what a killed writer of the other
left: under the lock, temp files older than the lock's stale time are removed, and all
of them when the lock was taken from a holder that died.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from typing import Any, Callable, List, NamedTuple, Optional

from .registry_errors import RegistryFileError, SerializationError

__all__ = ["FileState", "read_registry_file", "classify", "write_registry_file", "quarantine", "remove_dead_temp_files"]

_WINDOWS = sys.platform == "win32"


class FileState(NamedTuple):
    #: 'missing', 'empty' (0 bytes or whitespace), 'rows' or 'corrupt'.
    kind: str
    rows: List[Any] = []
    reason: str = ""
    data: bytes = b""


def _reject_constant(name: str) -> Any:
    # JSON.parse refuses NaN and Infinity: so must we, or the two sides would disagree.
    raise ValueError(f"{name} is not valid JSON")


def classify(data: bytes) -> FileState:
    if b"\x00" in data:
        return FileState("corrupt", reason="it contains NUL bytes (zero-filled after a crash?)", data=data)
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]  # a BOM from a Windows editor
    if text.strip() == "":
        return FileState("empty")
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        return FileState("corrupt", reason=f"it is not valid JSON ({err})", data=data)
    if not isinstance(parsed, list):
        return FileState("corrupt", reason="its top level is not a JSON array", data=data)
    return FileState("rows", rows=parsed)


def read_registry_file(path: str) -> FileState:
    for attempt in range(1, 4):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return FileState("missing")
        except PermissionError as err:  # Windows refuses to open a file being renamed over
            if _WINDOWS and attempt < 3:  # pragma: no cover
                time.sleep(0.01 * attempt)
                continue
            raise RegistryFileError(f"cannot read {path}: {err}") from err
        except OSError as err:
            raise RegistryFileError(f"cannot read {path}: {err}") from err
        return classify(data)
    raise AssertionError("unreachable")  # pragma: no cover


def encode_rows(rows: List[Any]) -> bytes:
    """Pretty-printed like dcc-mcp-core and the TypeScript writer (2 spaces, a final newline)."""
    try:
        text = json.dumps(rows, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise SerializationError(f"cannot encode the registry as JSON: {err}") from err
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape it, as JSON.stringify does
        return (json.dumps(rows, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def write_registry_file(path: str, rows: List[Any]) -> None:
    """Temp file + fsync + rename over ``path``; keeps the mode of the file it replaces."""
    data = encode_rows(rows)
    directory = os.path.dirname(path)
    try:
        mode: Optional[int] = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    for _ in range(10):
        temp = f"{path}.{int.from_bytes(os.urandom(4), 'big')}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
        except OSError as err:
            raise RegistryFileError(f"cannot write {path}: {err}") from err
    else:  # pragma: no cover
        raise RegistryFileError(f"cannot write {path}: no free temp file name in {directory}")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sys.platform != "win32" and mode is not None:  # (the platform first: for the type checker)
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        _replace(temp, path)
    except OSError as err:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise RegistryFileError(f"cannot write {path}: {err}") from err


def _replace(temp: str, path: str) -> None:
    for attempt in range(1, 6):
        try:
            os.replace(temp, path)
            return
        except PermissionError:  # Windows: a reader has it open for a moment
            if not _WINDOWS or attempt == 5:
                raise
            time.sleep(0.01 * attempt)  # pragma: no cover


def quarantine(path: str) -> Optional[str]:
    """Renames ``path`` to ``<path>.corrupted-<unix ms>`` (never over an earlier one); returns the new path."""
    stamp = time.time_ns() // 1_000_000
    for n in range(100):
        aside = f"{path}.corrupted-{stamp}" + ("" if n == 0 else f"-{n}")
        if os.path.lexists(aside):
            continue
        try:
            os.rename(path, aside)
            return aside
        except FileNotFoundError:
            return None  # already gone
        except OSError as err:
            raise RegistryFileError(f"cannot move the corrupt {path} aside: {err}") from err
    raise RegistryFileError(f"cannot move the corrupt {path} aside: too many {path}.corrupted-{stamp}* files")


def temp_file_pattern(path: str) -> "re.Pattern[str]":
    """The temp names of ``path``: the name, a dot, a 32-bit unsigned integer."""
    return re.compile(re.escape(os.path.basename(path)) + r"\.[0-9]{1,10}")


def remove_dead_temp_files(path: str, cutoff: float, warn: Callable[[str], None]) -> List[str]:
    """Removes the temp files of ``path`` last modified at or before ``cutoff`` (Unix seconds;
    ``float('inf')`` for all). Call it under the lock. Never raises; returns the names removed."""
    directory = os.path.dirname(path)
    pattern = temp_file_pattern(path)
    removed: List[str] = []
    try:
        for name in os.listdir(directory):
            if not pattern.fullmatch(name):
                continue
            temp = os.path.join(directory, name)
            try:
                st = os.lstat(temp)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_mtime > cutoff:
                continue
            try:
                os.unlink(temp)
                removed.append(name)
            except FileNotFoundError:
                pass
    except OSError as err:
        warn(f"could not remove temp files left by dead writers of {path}: {err}")
    return removed
