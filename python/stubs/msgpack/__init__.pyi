# The part of msgpack (>= 1.0) that wirecall uses: msgpack ships neither inline types nor a
# py.typed marker, and PyPI has no stub package for it. For mypy only (python/pyproject.toml
# [tool.mypy] mypy_path); not installed with the package.
from typing import Any, Callable, Optional

class Packer:
    def __init__(
        self,
        *,
        default: Optional[Callable[[Any], Any]] = ...,
        use_single_float: bool = ...,
        autoreset: bool = ...,
        use_bin_type: bool = ...,
        strict_types: bool = ...,
        datetime: bool = ...,
        unicode_errors: Optional[str] = ...,
    ) -> None: ...
    def pack(self, obj: Any) -> bytes: ...
    def reset(self) -> None: ...
    def bytes(self) -> bytes: ...

class ExtType:
    code: int
    data: bytes
    def __init__(self, code: int, data: bytes) -> None: ...

class Timestamp:
    seconds: int
    nanoseconds: int
    def __init__(self, seconds: int, nanoseconds: int = ...) -> None: ...

def packb(o: Any, **kwargs: Any) -> bytes: ...
def unpackb(packed: bytes | bytearray | memoryview, **kwargs: Any) -> Any: ...
