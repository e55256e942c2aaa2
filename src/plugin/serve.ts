/**
 * The plugin side: servePlugin() checks the magic cookie, listens where the host asked
 * (a Unix socket in PLUGIN_UNIX_SOCKET_DIR, or TCP on 127.0.0.1 in the allowed port
 * range; with mutual TLS when the host sent PLUGIN_CLIENT_CERT: AutoMTLS), prints the
 * handshake line with PROTOCOL `wirecall`, and exits when the host is gone or sends SIGTERM.
 */
import { InvalidOption } from '../errors.js';
import type { Server } from '../rpc/server.js';
import type { TlsServerOptions } from '../transport/tls-options.js';
import { autoMTLSServerOptions, generateAutoMTLSCert, parseClientCert } from './auto-mtls.js';
import {
  DEFAULT_HANDSHAKE,
  ENV_CLIENT_CERT,
  ENV_PROTOCOL_VERSIONS,
  ENV_WATCH_STDIN,
  NOT_A_COMMAND_MESSAGE,
  WIRECALL_PROTOCOL,
  checkVersions,
  chooseAppVersion,
  formatHandshakeLine,
  type HandshakeConfig,
} from './handshake.js';
import { watchParent } from './parent-watch.js';
import { listenForHost } from './plugin-listen.js';

export interface ServePluginOptions {
  /** The magic cookie; default DEFAULT_HANDSHAKE (launchPlugin's default). */
  handshake?: HandshakeConfig;
  /** App protocol versions this plugin speaks. Default [1]. */
  protocolVersions?: readonly number[];
  /** `unix` (default; TCP anyway on Windows, like go-plugin) or `tcp` on 127.0.0.1. */
  network?: 'unix' | 'tcp';
  /** Where the handshake variables are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds between checks that the parent process is alive; 0: no polling. Default 1000. */
  parentPollInterval?: number;
  /**
   * When the host is gone (stdin EOF, parent died) or SIGTERM arrives. Default: close the
   * server (in-flight calls get `drainTimeout` ms, default 1000) and exit with code 0.
   */
  onShutdown?: (reason: string) => void | Promise<void>;
  drainTimeout?: number;
  /** Handle SIGTERM (graceful shutdown) and ignore SIGINT, as go-plugin plugins do. Default true. */
  handleSignals?: boolean;
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
  const env = options.env ?? process.env;
  const handshake = options.handshake ?? DEFAULT_HANDSHAKE;
  if (env[handshake.magicCookieKey] !== handshake.magicCookieValue) {
    process.stderr.write(NOT_A_COMMAND_MESSAGE);
    process.exit(1);
  }
  const versions = checkVersions(options.protocolVersions ?? [1], 'protocolVersions');
  const appVersion = chooseAppVersion(env[ENV_PROTOCOL_VERSIONS], versions);
  const drainTimeout = options.drainTimeout ?? 1000;
  const network = options.network === 'tcp' || process.platform === 'win32' ? 'tcp' : 'unix';
  if (options.network !== undefined && options.network !== 'unix' && options.network !== 'tcp') {
    throw new InvalidOption(`network must be 'unix' or 'tcp', got ${JSON.stringify(options.network)}`);
  }
  const mtls = options.autoMTLS === false ? undefined : await autoMTLS(env[ENV_CLIENT_CERT]);
  const listener = await listenForHost(server, env, network, mtls?.tls);
  const { endpoint, address } = listener;
  const line = formatHandshakeLine({ appVersion, network, address, protocol: WIRECALL_PROTOCOL, serverCert: mtls?.field ?? '' });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching();
      removeSignals();
      await server.close({ drainTimeout });
      listener.cleanup();
    })();
    return closing;
  };
  const shutdown = (reason: string): void => {
    if (options.onShutdown !== undefined) {
      void Promise.resolve(options.onShutdown(reason)).catch(() => {});
      return;
    }
    void close()
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  const stopWatching = watchParent({
    stdin: env[ENV_WATCH_STDIN] === '1',
    interval: options.parentPollInterval ?? 1000,
    onGone: shutdown,
  });
  const removeSignals = options.handleSignals === false ? () => {} : signalHandlers(shutdown);
  // The one line the host reads; nothing may be printed on stdout before it.
  process.stdout.write(`${line}\n`);
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

function signalHandlers(shutdown: (reason: string) => void): () => void {
  const onTerm = (): void => shutdown('SIGTERM');
  // Ctrl-C in a terminal reaches the whole process group: the host decides when we stop.
  const onInt = (): void => {};
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
}
