/**
 * The protobuf messages go-plugin's gRPC services exchange, as protobufjs JSON descriptors
 * (what `pbjs -t json` makes of a .proto file), so that no .proto file has to ship and be
 * found at run time. pb.ts hands them to protobufjs. Packages, message names, field
 * numbers and types are go-plugin v1.8.0's internal/plugin/*.proto and grpc's
 * grpc/health/v1/health.proto, all proto3:
 *
 *   grpc_controller.proto   package plugin;
 *     message Empty {}
 *     service GRPCController { rpc Shutdown(Empty) returns (Empty); }
 *
 *   grpc_broker.proto       package plugin;
 *     message ConnInfo {
 *       uint32 service_id = 1; string network = 2; string address = 3;
 *       message Knock { bool knock = 1; bool ack = 2; string error = 3; }
 *       Knock knock = 4;
 *     }
 *     service GRPCBroker { rpc StartStream(stream ConnInfo) returns (stream ConnInfo); }
 *
 *   grpc_stdio.proto        package plugin; import "google/protobuf/empty.proto";
 *     message StdioData { enum Channel { INVALID = 0; STDOUT = 1; STDERR = 2; } Channel channel = 1; bytes data = 2; }
 *     service GRPCStdio { rpc StreamStdio(google.protobuf.Empty) returns (stream StdioData); }
 *
 *   health.proto            package grpc.health.v1;
 *     message HealthCheckRequest { string service = 1; }
 *     message HealthCheckResponse {
 *       enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
 *       ServingStatus status = 1;
 *     }
 *     service Health {
 *       rpc Check(HealthCheckRequest) returns (HealthCheckResponse);
 *       rpc Watch(HealthCheckRequest) returns (stream HealthCheckResponse);
 *     }
 *
 * and from google/protobuf: Empty {} and StringValue { string value = 1; } (the message of
 * the interop tests' Greeter). Field names are protobufjs's camelCase (service_id →
 * serviceId), as pbjs writes them; only numbers and types reach the wire. The services are
 * in services.ts (grpc-js method definitions). This module has no imports: it is plain data.
 */

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/** plugin.StdioData.Channel */
export const StdioChannel = { INVALID: 0, STDOUT: 1, STDERR: 2 } as const;

const string = (id: number) => ({ type: 'string', id });

/**
 * JSON descriptors of every message above (proto3: the default edition of protobufjs's
 * JSON). Typed loosely on purpose: protobufjs's types must not reach the shipped .d.ts.
 */
export const GO_PLUGIN_PROTOS: { readonly nested: object } = {
  nested: {
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: string(1) } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { ...ServingStatus } } },
                },
              },
            },
          },
        },
      },
    },
    plugin: {
      nested: {
        Empty: { fields: {} },
        ConnInfo: {
          fields: {
            serviceId: { type: 'uint32', id: 1 },
            network: string(2),
            address: string(3),
            knock: { type: 'Knock', id: 4 },
          },
          nested: {
            Knock: { fields: { knock: { type: 'bool', id: 1 }, ack: { type: 'bool', id: 2 }, error: string(3) } },
          },
        },
        StdioData: {
          fields: { channel: { type: 'Channel', id: 1 }, data: { type: 'bytes', id: 2 } },
          nested: { Channel: { values: { ...StdioChannel } } },
        },
      },
    },
    google: {
      nested: {
        protobuf: {
          nested: {
            Empty: { fields: {} },
            StringValue: { fields: { value: string(1) } },
          },
        },
      },
    },
  },
};
