"""A row of this process kept alive: ``FileRegistry.keep_registered`` returns a Registration,
which heartbeats the row on a daemon thread, registers it again if it vanished, and
deregisters it when closed."""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol

from .errors import InvalidOption
from .registry_errors import ServiceAlreadyRegistered, ShutdownError
from .registry_address import EndpointLike
from .registry_rows import ServiceEntry


class _Registry(Protocol):
    """What a Registration needs of FileRegistry (which imports this module, not the other way)."""

    @property
    def register(self) -> Callable[..., ServiceEntry]: ...
    def heartbeat(self, dcc_type: str, instance_id: str) -> bool: ...
    def deregister(self, dcc_type: str, instance_id: str) -> bool: ...
    @property
    def _warn(self) -> Callable[[str], None]: ...


DEFAULT_HEARTBEAT_INTERVAL = 5.0


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidOption(f"{name} must be a positive number of seconds (or math.inf), got {value!r}")
    return float(value)



class Registration:
    """A row of this process kept alive: registered now, heartbeated every ``interval`` seconds
    on a daemon thread, registered again if it vanished, deregistered by close() (or on leaving
    a ``with`` block). Heartbeat failures go to the registry's on_warning."""

    def __init__(
        self, registry: "_Registry", dcc_type: str, endpoint: EndpointLike, *, interval: float = DEFAULT_HEARTBEAT_INTERVAL, **options: Any
    ) -> None:
        self.registry = registry
        self.interval = _positive("interval", interval)
        self.entry = registry.register(dcc_type, endpoint, **options)
        self.dcc_type = dcc_type
        self.instance_id = self.entry.instance_id
        self._endpoint = endpoint
        self._options = dict(options, instance_id=self.instance_id)
        self._stop = threading.Event()
        self._beating = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"wirecall-registry-heartbeat-{dcc_type}", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return self.entry.endpoint

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._beating:
                if self._stop.is_set():
                    return
                try:
                    if not self.registry.heartbeat(self.dcc_type, self.instance_id):
                        self.entry = self.registry.register(self.dcc_type, self._endpoint, **self._options)
                except (ShutdownError, ServiceAlreadyRegistered):
                    pass
                except Exception as err:  # noqa: BLE001 - reported, and the next beat tries again
                    self.registry._warn(f"heartbeat of {self.dcc_type} {self.instance_id} failed: {err}")

    def close(self) -> bool:
        """Stops heartbeating and removes the row; False if it was not there. Idempotent."""
        if self._stop.is_set():
            return False
        self._stop.set()
        with self._beating:  # a beat in progress could otherwise put the row back
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.interval + 5)
        return self.registry.deregister(self.dcc_type, self.instance_id)

    def __enter__(self) -> "Registration":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
