/**
 * grpc-js service definitions of what go-plugin speaks beside the plugin's own services:
 * grpc.health.v1.Health/Check, plugin.GRPCController/Shutdown, plugin.GRPCBroker/StartStream
 * and plugin.GRPCStdio/StreamStdio, with the hand-written codecs of pb.ts. Used by both
 * sides: the plugin adds them to its server, the host calls them.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  decodeConnInfo,
  decodeEmpty,
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  decodeStdioData,
  encodeConnInfo,
  encodeEmpty,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  encodeStdioData,
  type ConnInfo,
  type Empty,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type StdioData,
} from './pb.js';

/** The health service name go-plugin hosts check (go-plugin's GRPCServiceName). */
export const GO_PLUGIN_HEALTH_SERVICE = 'plugin';

function method<Req, Res>(
  path: string,
  requestStream: boolean,
  responseStream: boolean,
  encodeReq: (m: Req) => Buffer,
  decodeReq: (b: Buffer) => Req,
  encodeRes: (m: Res) => Buffer,
  decodeRes: (b: Buffer) => Res,
): MethodDefinition<Req, Res> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: encodeReq,
    requestDeserialize: decodeReq,
    responseSerialize: encodeRes,
    responseDeserialize: decodeRes,
  };
}

export const HealthService = {
  check: method<HealthCheckRequest, HealthCheckResponse>(
    '/grpc.health.v1.Health/Check',
    false,
    false,
    encodeHealthCheckRequest,
    decodeHealthCheckRequest,
    encodeHealthCheckResponse,
    decodeHealthCheckResponse,
  ),
} satisfies ServiceDefinition;

export const ControllerService = {
  shutdown: method<Empty, Empty>('/plugin.GRPCController/Shutdown', false, false, encodeEmpty, decodeEmpty, encodeEmpty, decodeEmpty),
} satisfies ServiceDefinition;

export const BrokerService = {
  startStream: method<ConnInfo, ConnInfo>('/plugin.GRPCBroker/StartStream', true, true, encodeConnInfo, decodeConnInfo, encodeConnInfo, decodeConnInfo),
} satisfies ServiceDefinition;

export const StdioService = {
  streamStdio: method<Empty, StdioData>('/plugin.GRPCStdio/StreamStdio', false, true, encodeEmpty, decodeEmpty, encodeStdioData, decodeStdioData),
} satisfies ServiceDefinition;
