"""The registry's errors, with the names and codes of the TypeScript side (src/errors.ts):

    WirecallError
    ├── InvalidOption                   (wirecall.errors)
    └── ManagerError
        ├── ServiceAlreadyRegistered    registering a (dcc_type, instance_id) that is live
        ├── ShutdownError               the registry was closed
        ├── RegistryFileError           services.json could not be read, locked or written
        └── SerializationError          metadata or extra fields cannot be written as JSON

Defined here until wirecall.errors defines them; if it does, its classes are these (one
class per name in the package, whichever module it is imported from).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Type

from . import errors as _errors
from .errors import InvalidOption, WirecallError

__all__ = [
    "ManagerError",
    "ServiceAlreadyRegistered",
    "ShutdownError",
    "RegistryFileError",
    "SerializationError",
    "InvalidOption",
]


def _shared(name: str, default: Type[WirecallError]) -> Type[WirecallError]:
    found = getattr(_errors, name, None)
    return found if isinstance(found, type) and issubclass(found, WirecallError) else default


class _ManagerError(WirecallError):
    code = "ERR_MANAGER"


if TYPE_CHECKING:  # for the type checker, the classes below (wirecall.errors' own, if any, are the same shape)
    ManagerError = _ManagerError
else:
    ManagerError = _shared("ManagerError", _ManagerError)


class _ServiceAlreadyRegistered(ManagerError):
    code = "ERR_SERVICE_ALREADY_REGISTERED"


class _ShutdownError(ManagerError):
    code = "ERR_SHUTDOWN"


class _RegistryFileError(ManagerError):
    code = "ERR_REGISTRY_FILE"


class _SerializationError(ManagerError):
    code = "ERR_SERIALIZATION"


if TYPE_CHECKING:
    ServiceAlreadyRegistered = _ServiceAlreadyRegistered
    ShutdownError = _ShutdownError
    RegistryFileError = _RegistryFileError
    SerializationError = _SerializationError
else:
    ServiceAlreadyRegistered = _shared("ServiceAlreadyRegistered", _ServiceAlreadyRegistered)
    ShutdownError = _shared("ShutdownError", _ShutdownError)
    RegistryFileError = _shared("RegistryFileError", _RegistryFileError)
    SerializationError = _shared("SerializationError", _SerializationError)

for _cls, _name in (
    (_ManagerError, "ManagerError"),
    (_ServiceAlreadyRegistered, "ServiceAlreadyRegistered"),
    (_ShutdownError, "ShutdownError"),
    (_RegistryFileError, "RegistryFileError"),
    (_SerializationError, "SerializationError"),
):
    _cls.__name__ = _cls.__qualname__ = _name
    _cls.__module__ = __name__
