/**
 * Be a plugin of a go-plugin host on PROTOCOL `grpc`: serveGrpcPlugin() checks the magic
 * cookie, adds go-plugin's own services (plugin-services.ts) beside the user's on one
 * grpc-js server, listens on a Unix socket in PLUGIN_UNIX_SOCKET_DIR (given to
 * PLUGIN_UNIX_SOCKET_GROUP when set) or TCP on 127.0.0.1 in the allowed port range, with
 * AutoMTLS when the host sent PLUGIN_CLIENT_CERT, prints the handshake line, and exits
 * after GRPCController/Shutdown, SIGTERM, or when the host is gone.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import { AddressInUse, InvalidOption } from '../errors.js';
import { errorMessage } from '../util/error-message.js';
import {
  DEFAULT_HANDSHAKE,
  NOT_A_COMMAND_MESSAGE,
  chooseAppVersion,
  formatHandshakeLine,
  generateAutoMTLSCert,
  parseClientCert,
  type HandshakeConfig,
} from '../plugin/index.js';
import {
  ENV_CLIENT_CERT,
  ENV_MAX_PORT,
  ENV_MIN_PORT,
  ENV_PROTOCOL_VERSIONS,
  ENV_UNIX_SOCKET_DIR,
  ENV_UNIX_SOCKET_GROUP,
  ENV_WATCH_STDIN,
  checkPortRange,
  checkVersions,
} from '../plugin/handshake.js';
import { watchParent } from '../plugin/parent-watch.js';
import { setGroupWritable } from '../plugin/socket-group.js';
import { GRPC_PROTOCOL } from './constants.js';
import { loadProtobuf } from './pb.js';
import { addGoPluginServices } from './plugin-services.js';
import { StdioForwarder } from './stdio.js';

export interface ServeGrpcPluginOptions {
  /** The magic cookie; default DEFAULT_HANDSHAKE (wirecall's; give the go-plugin host's HandshakeConfig here). */
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
   * After GRPCController/Shutdown, SIGTERM, or when the host is gone. Default: close()
   * (in-flight calls get `drainTimeout` ms, default 1000) and exit with code 0.
   */
  onShutdown?: (reason: string) => void | Promise<void>;
  drainTimeout?: number;
  /** Handle SIGTERM (graceful shutdown) and ignore SIGINT, as go-plugin plugins do. Default true. */
  handleSignals?: boolean;
  /**
   * `inherit` (default): stdout and stderr stay the process's own (a go-plugin host logs
   * the plugin's stderr lines). `stream`: writes after the handshake line go to the
   * host's GRPCStdio stream instead (its SyncStdout/SyncStderr), as a Go plugin's do.
   */
  stdio?: 'inherit' | 'stream';
}

export interface ServedGrpcPlugin {
  /** The address on the line: a socket path, or `127.0.0.1:port`. */
  readonly address: string;
  readonly network: 'unix' | 'tcp';
  /** The line printed on stdout (without the newline). */
  readonly line: string;
  readonly appVersion: number;
  /** Whether AutoMTLS is on (the host sent PLUGIN_CLIENT_CERT). */
  readonly tls: boolean;
  /** Stops watching the host and the signals, ends go-plugin's streams and shuts the server down. Idempotent. */
  close(): Promise<void>;
}

/**
 * Serve `server` (a grpc-js Server with the user's services added, not yet bound) as a
 * go-plugin plugin. Run by hand (no magic cookie), it prints go-plugin's message on
 * stderr and exits with code 1.
 */
export async function serveGrpcPlugin(server: grpc.Server, options: ServeGrpcPluginOptions = {}): Promise<ServedGrpcPlugin> {
  const env = options.env ?? process.env;
  const handshake = options.handshake ?? DEFAULT_HANDSHAKE;
  if (env[handshake.magicCookieKey] !== handshake.magicCookieValue) {
    process.stderr.write(NOT_A_COMMAND_MESSAGE);
    process.exit(1);
  }
  if (options.network !== undefined && options.network !== 'unix' && options.network !== 'tcp') {
    throw new InvalidOption(`network must be 'unix' or 'tcp', got ${JSON.stringify(options.network)}`);
  }
  if (options.stdio !== undefined && options.stdio !== 'inherit' && options.stdio !== 'stream') {
    throw new InvalidOption(`stdio must be 'inherit' or 'stream', got ${JSON.stringify(options.stdio)}`);
  }
  const versions = checkVersions(options.protocolVersions ?? [1], 'protocolVersions');
  const appVersion = chooseAppVersion(env[ENV_PROTOCOL_VERSIONS], versions);
  const drainTimeout = options.drainTimeout ?? 1000;
  loadProtobuf(); // GrpcPluginUnavailable now rather than failed calls later
  const network = options.network === 'tcp' || process.platform === 'win32' ? 'tcp' : 'unix';

  // AutoMTLS: the host's certificate is the only one accepted; ours goes in the line.
  const clientCert = env[ENV_CLIENT_CERT];
  let credentials = grpc.ServerCredentials.createInsecure();
  let serverCert = '';
  if (clientCert !== undefined && clientCert !== '') {
    const host = parseClientCert(clientCert);
    const own = await generateAutoMTLSCert();
    credentials = grpc.ServerCredentials.createSsl(Buffer.from(host.pem), [{ cert_chain: Buffer.from(own.certPem), private_key: Buffer.from(own.keyPem) }], true);
    serverCert = own.field;
  }

  const stdio = new StdioForwarder();
  let shutdown: (reason: string) => void = () => {};
  const services = addGoPluginServices(server, stdio, () => shutdown('GRPCController/Shutdown'));
  const bound = network === 'tcp' ? await bindTcp(server, credentials, env) : await bindUnix(server, credentials, env);
  const line = formatHandshakeLine({ appVersion, network, address: bound.address, protocol: GRPC_PROTOCOL, serverCert });

  let stopWatching = (): void => {};
  let removeSignals = (): void => {};
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching();
      removeSignals();
      services.notServing();
      services.endStreams();
      await shutdownServer(server, drainTimeout);
      bound.cleanup();
    })();
    return closing;
  };
  shutdown = (reason: string): void => {
    if (options.onShutdown !== undefined) {
      void Promise.resolve(options.onShutdown(reason)).catch(() => {});
      return;
    }
    void close()
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  stopWatching = watchParent({ stdin: env[ENV_WATCH_STDIN] === '1', interval: options.parentPollInterval ?? 1000, onGone: (r) => shutdown(r) });
  if (options.handleSignals !== false) removeSignals = signalHandlers((r) => shutdown(r));
  // The one line the host reads; nothing may be printed on stdout before it.
  process.stdout.write(`${line}\n`);
  if (options.stdio === 'stream') stdio.capture();
  return { address: bound.address, network, line, appVersion, tls: serverCert !== '', close };
}

/** tryShutdown, bounded by `drainTimeout`, then forceShutdown. */
function shutdownServer(server: grpc.Server, drainTimeout: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, drainTimeout);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
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

function bind(server: grpc.Server, target: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(target, credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

interface Bound {
  address: string;
  cleanup(): void;
}

/**
 * A socket `plugin<random>` in PLUGIN_UNIX_SOCKET_DIR, or in a fresh private directory
 * without it (removed at close); with PLUGIN_UNIX_SOCKET_GROUP, handed to that group and
 * made group-writable (0660), as go-plugin's plugins do. An unknown group, or one this
 * process may not give the socket to: InvalidOption, nothing left served.
 */
async function bindUnix(server: grpc.Server, credentials: grpc.ServerCredentials, env: NodeJS.ProcessEnv): Promise<Bound> {
  const given = env[ENV_UNIX_SOCKET_DIR];
  const own = given === undefined || given === '' ? mkdtempSync(path.join(os.tmpdir(), 'plugin-dir')) : undefined;
  const address = path.resolve(own ?? given!, `plugin${randomBytes(6).toString('hex')}`);
  const group = env[ENV_UNIX_SOCKET_GROUP];
  try {
    await bind(server, `unix://${address}`, credentials);
  } catch (err) {
    if (own !== undefined) rmSync(own, { recursive: true, force: true });
    throw err;
  }
  try {
    if (group !== undefined && group !== '') setGroupWritable(address, group, 0o660, ENV_UNIX_SOCKET_GROUP);
  } catch (err) {
    server.forceShutdown();
    rmSync(own ?? address, { recursive: true, force: true });
    throw err;
  }
  return { address, cleanup: () => rmSync(own ?? address, { recursive: true, force: true }) };
}

/** The first port from PLUGIN_MIN_PORT to PLUGIN_MAX_PORT that binds on 127.0.0.1 (go-plugin's order); both unset: any port. */
async function bindTcp(server: grpc.Server, credentials: grpc.ServerCredentials, env: NodeJS.ProcessEnv): Promise<Bound> {
  const min = portOf(env[ENV_MIN_PORT], ENV_MIN_PORT);
  const max = portOf(env[ENV_MAX_PORT], ENV_MAX_PORT);
  checkPortRange(min, max);
  let last: unknown;
  // Any failure moves on to the next port, as go-plugin's plugins do.
  for (let port = min; port <= max; port++) {
    try {
      const got = await bind(server, `127.0.0.1:${port}`, credentials);
      return { address: `127.0.0.1:${got}`, cleanup: () => {} };
    } catch (err) {
      last = err;
    }
  }
  throw new AddressInUse(`no TCP port on 127.0.0.1 in ${min}–${max} could be bound (last: ${errorMessage(last)})`, { cause: last });
}

function portOf(value: string | undefined, name: string): number {
  if (value === undefined || value === '') return 0;
  if (!/^[0-9]{1,5}$/.test(value)) throw new InvalidOption(`${name} must be a port number, got ${JSON.stringify(value)}`);
  return Number(value);
}
