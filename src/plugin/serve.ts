/**
 * The plugin side: servePlugin() checks the magic cookie, listens where the host asked
 * (a Unix socket in PLUGIN_UNIX_SOCKET_DIR, or TCP on 127.0.0.1 in the allowed port
 * range), prints the handshake line with PROTOCOL `wirecall`, and exits when the host is
 * gone or sends SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { AddressInUse, InvalidOption } from '../errors.js';
import type { Server } from '../rpc/server.js';
import { parseEndpoint } from '../transport/endpoint.js';
import {
  DEFAULT_HANDSHAKE,
  ENV_MAX_PORT,
  ENV_MIN_PORT,
  ENV_PROTOCOL_VERSIONS,
  ENV_UNIX_SOCKET_DIR,
  ENV_WATCH_STDIN,
  NOT_A_COMMAND_MESSAGE,
  WIRECALL_PROTOCOL,
  checkPortRange,
  checkVersions,
  chooseAppVersion,
  formatHandshakeLine,
  type HandshakeConfig,
} from './handshake.js';
import { watchParent } from './parent-watch.js';

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
}

export interface ServedPlugin {
  /** The wirecall endpoint bound, e.g. `unix:/tmp/plugin-dir1/plugin2`. */
  readonly endpoint: string;
  /** The line printed on stdout (without the newline). */
  readonly line: string;
  /** The app protocol version chosen. */
  readonly appVersion: number;
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
  const endpoint = network === 'tcp' ? await listenTcp(server, env) : await listenUnix(server, env);
  const ep = parseEndpoint(endpoint);
  const address = ep.kind === 'unix' ? ep.path : ep.kind === 'tcp' ? `${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}` : '';
  const line = formatHandshakeLine({ appVersion, network, address, protocol: WIRECALL_PROTOCOL });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching();
      removeSignals();
      await server.close({ drainTimeout });
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
  return { endpoint, line, appVersion, close };
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

async function listenUnix(server: Pick<Server, 'listen'>, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = env[ENV_UNIX_SOCKET_DIR];
  // Without a directory from the host: a fresh private one (transport's listenPrivate).
  if (dir === undefined || dir === '') return server.listen();
  return server.listen(`unix:${path.resolve(dir, `plugin${randomBytes(6).toString('hex')}`)}`);
}

/** The first free port from PLUGIN_MIN_PORT to PLUGIN_MAX_PORT on 127.0.0.1 (go-plugin's order); both unset: any port. */
async function listenTcp(server: Pick<Server, 'listen'>, env: NodeJS.ProcessEnv): Promise<string> {
  const min = portOf(env[ENV_MIN_PORT], ENV_MIN_PORT);
  const max = portOf(env[ENV_MAX_PORT], ENV_MAX_PORT);
  checkPortRange(min, max);
  for (let port = min; port <= max; port++) {
    try {
      return await server.listen(`tcp://127.0.0.1:${port}`);
    } catch (err) {
      if (!(err instanceof AddressInUse) || port === max) throw err;
    }
  }
  throw new AddressInUse(`no free TCP port on 127.0.0.1 in ${min}–${max}`);
}

function portOf(value: string | undefined, name: string): number {
  if (value === undefined || value === '') return 0;
  if (!/^[0-9]{1,5}$/.test(value)) throw new InvalidOption(`${name} must be a port number, got ${JSON.stringify(value)}`);
  return Number(value);
}
