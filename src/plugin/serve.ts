/**
 * The plugin side: servePlugin() checks the magic cookie, listens where the host asked
 * (a Unix socket in PLUGIN_UNIX_SOCKET_DIR, or TCP on 127.0.0.1 in the allowed port
 * range; with mutual TLS when the host sent PLUGIN_CLIENT_CERT: AutoMTLS), prints the
 * handshake line with PROTOCOL `wirecall`, and exits when the host is gone or sends SIGTERM.
 */
import type { Server } from '../rpc/server.js';
import type { TlsServerOptions } from '../transport/tls-options.js';
import { autoMTLSServerOptions, generateAutoMTLSCert, parseClientCert } from './auto-mtls.js';
import { ENV_CLIENT_CERT, WIRECALL_PROTOCOL, formatHandshakeLine } from './handshake.js';
import { listenForHost } from './plugin-listen.js';
import { announceToHost } from './serve-lifecycle.js';
import { startPluginSide, type PluginSideOptions } from './serve-options.js';

export interface ServePluginOptions extends PluginSideOptions {
  /**
   * Answer AutoMTLS when the host sends its certificate in PLUGIN_CLIENT_CERT: serve with
   * mutual TLS (our own ephemeral certificate, the host's required) and announce ours in
   * SERVER-CERT. Needs @peculiar/x509 and reflect-metadata. Default true (go-plugin's way);
   * false ignores PLUGIN_CLIENT_CERT (an AutoMTLS host then refuses the plugin).
   */
  autoMTLS?: boolean;
}

export interface ServedPlugin {
  /** The wirecall endpoint bound, e.g. `unix:/tmp/plugin-dir1/plugin2`. */
  readonly endpoint: string;
  /** The line printed on stdout (without the newline). */
  readonly line: string;
  /** The app protocol version chosen. */
  readonly appVersion: number;
  /** True when serving with AutoMTLS (the host sent PLUGIN_CLIENT_CERT). */
  readonly autoMTLS: boolean;
  /** Stops watching the host and the signals and closes the server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serve `server` as a plugin of the process that launched us. Run by hand (no magic
 * cookie), it prints go-plugin's message on stderr and exits with code 1.
 */
export async function servePlugin<Local, Remote>(server: Server<Local, Remote>, options: ServePluginOptions = {}): Promise<ServedPlugin> {
  const { env, appVersion, network, drainTimeout } = startPluginSide(options);
  const mtls = options.autoMTLS === false ? undefined : await autoMTLS(env[ENV_CLIENT_CERT]);
  const listener = await listenForHost(server, env, network, mtls?.tls);
  const { endpoint, address } = listener;
  const line = formatHandshakeLine({ appVersion, network, address, protocol: WIRECALL_PROTOCOL, serverCert: mtls?.field ?? '' });
  const { close } = announceToHost(line, env, options, async () => {
    await server.close({ drainTimeout });
    listener.cleanup();
  });
  return { endpoint, line, appVersion, autoMTLS: mtls !== undefined, close };
}

/** AutoMTLS: our certificate for the line, and TLS that requires exactly the host's. Undefined without PLUGIN_CLIENT_CERT. */
async function autoMTLS(clientCert: string | undefined): Promise<{ tls: TlsServerOptions; field: string } | undefined> {
  if (clientCert === undefined || clientCert === '') return undefined;
  const host = parseClientCert(clientCert);
  const own = await generateAutoMTLSCert();
  const o = autoMTLSServerOptions(own, host.pem);
  const tls: TlsServerOptions = { cert: o.cert, key: o.key, ca: o.ca, requestCert: true, rejectUnauthorized: true, minVersion: o.minVersion, unixSockets: true };
  return { tls, field: own.field };
}
