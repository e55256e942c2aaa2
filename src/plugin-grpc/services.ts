/**
 * grpc-js service definitions of what go-plugin speaks beside the plugin's own services:
 * grpc.health.v1.Health/Check and /Watch, plugin.GRPCController/Shutdown,
 * plugin.GRPCBroker/StartStream and plugin.GRPCStdio/StreamStdio (go-plugin v1.8.0's
 * internal/plugin/*.proto and grpc's health.proto, see protos.ts), their messages encoded
 * by protobufjs (pb.ts). Used by both sides: the plugin adds them to its server, the host
 * calls them. Defining them loads nothing: protobufjs is loaded at the first message.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  ConnInfoCodec,
  EmptyCodec,
  HealthCheckRequestCodec,
  HealthCheckResponseCodec,
  ProtobufEmptyCodec,
  StdioDataCodec,
  type Codec,
  type ConnInfo,
  type Empty,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type StdioData,
} from './pb.js';

/** The health service name go-plugin hosts check (go-plugin's GRPCServiceName). */
export const GO_PLUGIN_HEALTH_SERVICE = 'plugin';

/**
 * A grpc-js MethodDefinition, written out here (the same shape: method() checks it against
 * grpc-js's) so that the shipped services.d.ts does not need @grpc/grpc-js: without it, a
 * TypeScript user with `skipLibCheck: false` gets errors only from the declarations that
 * cannot do without it (serveGrpcPlugin's `grpc.Server`, launchGrpcPlugin's channel).
 */
export interface GoPluginMethod<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly requestDeserialize: (bytes: Buffer) => Req;
  readonly responseSerialize: (value: Res) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Res;
}

function method<Req, Res>(path: string, requestStream: boolean, responseStream: boolean, req: Codec<Req>, res: Codec<Res>): GoPluginMethod<Req, Res> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: req.encode,
    requestDeserialize: req.decode,
    responseSerialize: res.encode,
    responseDeserialize: res.decode,
  } satisfies MethodDefinition<Req, Res>;
}

export const HealthService = {
  check: method<HealthCheckRequest, HealthCheckResponse>('/grpc.health.v1.Health/Check', false, false, HealthCheckRequestCodec, HealthCheckResponseCodec),
  watch: method<HealthCheckRequest, HealthCheckResponse>('/grpc.health.v1.Health/Watch', false, true, HealthCheckRequestCodec, HealthCheckResponseCodec),
} satisfies ServiceDefinition;

export const ControllerService = {
  shutdown: method<Empty, Empty>('/plugin.GRPCController/Shutdown', false, false, EmptyCodec, EmptyCodec),
} satisfies ServiceDefinition;

export const BrokerService = {
  startStream: method<ConnInfo, ConnInfo>('/plugin.GRPCBroker/StartStream', true, true, ConnInfoCodec, ConnInfoCodec),
} satisfies ServiceDefinition;

export const StdioService = {
  streamStdio: method<Empty, StdioData>('/plugin.GRPCStdio/StreamStdio', false, true, ProtobufEmptyCodec, StdioDataCodec),
} satisfies ServiceDefinition;
