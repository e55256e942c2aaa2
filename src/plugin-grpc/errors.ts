/**
 * The errors of wirecall/plugin-grpc. Launch failures before the connection are
 * wirecall/plugin's (PluginStartFailed, PluginExited, PluginHandshakeTimeout,
 * PluginHandshakeInvalid, PluginVersionMismatch, PluginProtocolMismatch — the latter
 * also for a PROTOCOL other than `grpc`, multiplexing, or an AutoMTLS answer that does not
 * match the request); GrpcPluginUnhealthy is for the step after, GrpcPluginUnavailable for
 * a missing package:
 *
 *   WirecallError
 *   └── PluginError
 *       ├── GrpcPluginUnhealthy   the health check of service "plugin" failed or did not answer SERVING
 *       └── GrpcPluginUnavailable the optional peer dependency protobufjs (go-plugin's messages) is missing
 */
import type { WirecallErrorOptions } from '../errors.js';
import { PluginError } from '../plugin/index.js';

export class GrpcPluginUnhealthy extends PluginError {
  static override readonly kind: string = 'GrpcPluginUnhealthy';
  static override readonly code: string = 'ERR_PLUGIN_GRPC_UNHEALTHY';
  constructor(
    message: string,
    /** The status it answered (`NOT_SERVING` …); undefined when the check itself failed (see `cause`). */
    readonly status: string | undefined,
    /** The plugin's last stderr lines, oldest first. */
    readonly stderr: readonly string[],
    options?: WirecallErrorOptions,
  ) {
    super(`${message}${stderr.length === 0 ? '' : `; last stderr lines:\n${stderr.join('\n')}`}`, options);
  }
}

/**
 * serveGrpcPlugin() or launchGrpcPlugin() needs the optional peer dependency protobufjs
 * (it encodes go-plugin's messages), and it cannot be loaded. Thrown before anything
 * is bound or started.
 */
export class GrpcPluginUnavailable extends PluginError {
  static override readonly kind: string = 'GrpcPluginUnavailable';
  static override readonly code: string = 'ERR_PLUGIN_GRPC_UNAVAILABLE';
}
