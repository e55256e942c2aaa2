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
 *       └── GrpcPluginUnavailable an optional peer dependency (@grpc/grpc-js, protobufjs) is missing
 */
import type { WirecallErrorOptions } from '../errors.js';
import { PluginError } from '../plugin/index.js';
import { errorMessage } from '../util/error-message.js';

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
 * serveGrpcPlugin() or launchGrpcPlugin() needs the optional peer dependencies
 * @grpc/grpc-js and protobufjs (it encodes go-plugin's messages), and one of them (or
 * both: the message names every one missing) cannot be loaded. Thrown before anything is
 * bound or started.
 */
export class GrpcPluginUnavailable extends PluginError {
  static override readonly kind: string = 'GrpcPluginUnavailable';
  static override readonly code: string = 'ERR_PLUGIN_GRPC_UNAVAILABLE';
}

/** GrpcPluginUnavailable for the packages `names`, whose load failed with `causes` (in the same order). */
export function peersUnavailable(names: readonly string[], causes: readonly unknown[]): GrpcPluginUnavailable {
  const what = names.length === 1 ? `the optional peer dependency ${names[0]!}` : `the optional peer dependencies ${names.join(' and ')}`;
  // Node's require() error without its "Require stack:" lines.
  const why = causes.map((err) => errorMessage(err).split('\n', 1)[0]!).join('; ');
  return new GrpcPluginUnavailable(`wirecall/plugin-grpc needs ${what}: npm install ${names.join(' ')} (${why})`, {
    cause: causes.length === 1 ? causes[0] : new AggregateError(causes, `cannot load ${names.join(', ')}`),
  });
}
