"""A pyvider-rpcplugin plugin serving wirecall.interop.Greeter for the interop tests.

Greet takes and returns a google.protobuf.StringValue (no code generation), the same
service the Go peers in test/go-plugin speak. pyvider-rpcplugin itself serves what a
go-plugin host expects (health "plugin", GRPCController, GRPCBroker, GRPCStdio), prints
the handshake line and answers AutoMTLS when PLUGIN_CLIENT_CERT is set.

    python greeter_plugin.py [--cookie-key K] [--cookie-value V]
"""

import argparse
import asyncio
from typing import Any

import grpc
from google.protobuf.wrappers_pb2 import StringValue
from pyvider.rpcplugin import plugin_server
from pyvider.rpcplugin.config import rpcplugin_config
from pyvider.rpcplugin.protocol.base import RPCPluginProtocol

SERVICE = "wirecall.interop.Greeter"


class GreeterProtocol(RPCPluginProtocol[Any, Any]):
    service_name = SERVICE

    async def get_grpc_descriptors(self) -> tuple[Any, str]:
        return (None, SERVICE)

    async def add_to_server(self, server: Any, handler: Any) -> None:
        async def greet(request: StringValue, context: Any) -> StringValue:
            return StringValue(value=f"hello, {request.value}, from pyvider-rpcplugin")

        methods = {
            "Greet": grpc.unary_unary_rpc_method_handler(
                greet,
                request_deserializer=StringValue.FromString,
                response_serializer=StringValue.SerializeToString,
            )
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, methods),))

    def get_method_type(self, method_name: str) -> str:
        return "unary_unary"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cookie-key", default="WIRECALL_PLUGIN")
    parser.add_argument("--cookie-value", default="d3f1c0a2-wirecall-plugin-v1")
    args = parser.parse_args()
    rpcplugin_config.plugin_magic_cookie_key = args.cookie_key
    rpcplugin_config.plugin_magic_cookie_value = args.cookie_value
    server = plugin_server(protocol=GreeterProtocol(), handler=object(), transport="unix")
    await server.serve()


if __name__ == "__main__":
    asyncio.run(main())
