/**
 * The errors of wirecall/plugin-grpc. Launch failures before the connection are
 * wirecall/plugin's (PluginStartFailed, PluginExited, PluginHandshakeTimeout,
 * PluginHandshakeInvalid, PluginVersionMismatch, PluginProtocolMismatch — the latter
 * also for a PROTOCOL other than `grpc`, multiplexing, or an AutoMTLS answer that does not
 * match the request); this one is for the step after:
 *
 *   WirecallError
 *   └── PluginError
 *       └── GrpcPluginUnhealthy   the health check of service "plugin" failed or did not answer SERVING
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
