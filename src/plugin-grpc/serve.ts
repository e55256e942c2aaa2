/**
 * Be a plugin of a go-plugin host on PROTOCOL `grpc`: serveGrpcPlugin() checks the magic
 * cookie, adds go-plugin's own services (plugin-services.ts) beside the user's on one
 * grpc-js server, listens on a Unix socket in PLUGIN_UNIX_SOCKET_DIR (given to
 * PLUGIN_UNIX_SOCKET_GROUP when set) or TCP on 127.0.0.1 in the allowed port range, with
 * AutoMTLS when the host sent PLUGIN_CLIENT_CERT, prints the handshake line, and exits
 * after GRPCController/Shutdown, SIGTERM, or when the host is gone.
 */
import { rmSync } from 'node:fs';
import type grpc from '@grpc/grpc-js';
import { AddressInUse, InvalidOption } from '../errors.js';
import { errorMessage } from '../util/error-message.js';
import { formatHandshakeLine, generateAutoMTLSCert, parseClientCert, type HandshakeConfig } from '../plugin/index.js';
import { ENV_CLIENT_CERT } from '../plugin/handshake.js';
import { bindUnixSocket, portRange } from '../plugin/listen-env.js';
import { announceToHost, type PluginLife } from '../plugin/serve-lifecycle.js';
import { startPluginSide, type PluginSideOptions } from '../plugin/serve-options.js';
import { GRPC_PROTOCOL } from './constants.js';
import { grpcJs, loadPeerDependencies } from './grpc-js.js';
import { addGoPluginServices } from './plugin-services.js';
import { StdioForwarder } from './stdio.js';

export interface ServeGrpcPluginOptions extends PluginSideOptions {
  /** The magic cookie; default DEFAULT_HANDSHAKE (wirecall's; give the go-plugin host's HandshakeConfig here). */
  handshake?: HandshakeConfig;
  /**
   * After GRPCController/Shutdown, SIGTERM, or when the host is gone. Default: close()
   * (in-flight calls get `drainTimeout` ms, default 1000) and exit with code 0.
   */
  onShutdown?: (reason: string) => void | Promise<void>;
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
  const { env, appVersion, network, drainTimeout } = startPluginSide(options);
  if (options.stdio !== undefined && options.stdio !== 'inherit' && options.stdio !== 'stream') {
    throw new InvalidOption(`stdio must be 'inherit' or 'stream', got ${JSON.stringify(options.stdio)}`);
  }
  loadPeerDependencies(); // GrpcPluginUnavailable now, before `server` is even looked at
  const { ServerCredentials } = grpcJs();

  // AutoMTLS: the host's certificate is the only one accepted; ours goes in the line.
  const clientCert = env[ENV_CLIENT_CERT];
  let credentials = ServerCredentials.createInsecure();
  let serverCert = '';
  if (clientCert !== undefined && clientCert !== '') {
    const host = parseClientCert(clientCert);
    const own = await generateAutoMTLSCert();
    credentials = ServerCredentials.createSsl(Buffer.from(host.pem), [{ cert_chain: Buffer.from(own.certPem), private_key: Buffer.from(own.keyPem) }], true);
    serverCert = own.field;
  }

  const stdio = new StdioForwarder();
  let life: PluginLife | undefined;
  // A Shutdown before the line is printed (nothing to shut down yet) is ignored.
  const services = addGoPluginServices(server, stdio, () => life?.shutdown('GRPCController/Shutdown'));
  const bound = network === 'tcp' ? await bindTcp(server, credentials, env) : await bindUnix(server, credentials, env);
  const line = formatHandshakeLine({ appVersion, network, address: bound.address, protocol: GRPC_PROTOCOL, serverCert });
  life = announceToHost(line, env, options, async () => {
    services.notServing();
    services.endStreams();
    await shutdownServer(server, drainTimeout);
    bound.cleanup();
  });
  if (options.stdio === 'stream') stdio.capture();
  return { address: bound.address, network, line, appVersion, tls: serverCert !== '', close: life.close };
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
  // The socket file is removed by us too, whatever grpc-js's shutdown does with it.
  const removeFile = (file: string): void => rmSync(file, { force: true });
  const socket = await bindUnixSocket(
    env,
    (file) => bind(server, `unix://${file}`, credentials),
    (file) => {
      server.forceShutdown();
      removeFile(file);
    },
  );
  return {
    address: socket.file,
    cleanup: () => {
      removeFile(socket.file);
      socket.removeOwnDir();
    },
  };
}

/** The first port from PLUGIN_MIN_PORT to PLUGIN_MAX_PORT that binds on 127.0.0.1 (go-plugin's order); both unset: any port. */
async function bindTcp(server: grpc.Server, credentials: grpc.ServerCredentials, env: NodeJS.ProcessEnv): Promise<Bound> {
  const { min, max } = portRange(env);
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
