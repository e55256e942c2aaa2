/**
 * wirecall/plugin-grpc: real HashiCorp go-plugin interop on PROTOCOL `grpc`
 * (docs/PLUGINS-GRPC.md). Needs the optional peer dependencies @grpc/grpc-js and
 * protobufjs; the rest of wirecall never loads them, and this module loads them only when
 * serveGrpcPlugin() or launchGrpcPlugin() is called (grpc-js.ts, pb.ts): importing it works
 * without them, the calls throw GrpcPluginUnavailable. Its modules import only grpc-js's
 * types (`import type`).
 */
export { serveGrpcPlugin, type ServeGrpcPluginOptions, type ServedGrpcPlugin } from './serve.js';
export { launchGrpcPlugin, type LaunchGrpcPluginOptions, type LaunchedGrpcPlugin, type GrpcPluginKill } from './launch.js';
export type { GrpcPluginExit } from './launch.js';
export { GrpcPluginUnhealthy, GrpcPluginUnavailable } from './errors.js';
export { GRPC_PROTOCOL } from './constants.js';
export { GO_PLUGIN_HEALTH_SERVICE, HealthService, ControllerService, BrokerService, StdioService, type GoPluginMethod } from './services.js';
export { ServingStatus, type ServingStatusName } from './pb.js';
