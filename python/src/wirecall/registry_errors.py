"""The registry's errors, with the names and codes of the TypeScript side (src/errors.ts):

    WirecallError
    ├── InvalidOption                   (wirecall.errors)
    └── ManagerError
        ├── ServiceAlreadyRegistered    registering a (dcc_type, instance_id) that is live
        ├── ShutdownError               the registry was closed
        ├── RegistryFileError           services.json could not be read, locked or written
        └── SerializationError          metadata or extra fields cannot be written as JSON
"""

from __future__ import annotations

from .errors import InvalidOption, WirecallError

__all__ = [
    "ManagerError",
    "ServiceAlreadyRegistered",
    "ShutdownError",
    "RegistryFileError",
    "SerializationError",
    "InvalidOption",
]


class ManagerError(WirecallError):
    code = "ERR_MANAGER"


class ServiceAlreadyRegistered(ManagerError):
    code = "ERR_SERVICE_ALREADY_REGISTERED"


class ShutdownError(ManagerError):
    code = "ERR_SHUTDOWN"


class RegistryFileError(ManagerError):
    code = "ERR_REGISTRY_FILE"


class SerializationError(ManagerError):
    code = "ERR_SERIALIZATION"
