/**
 * Where a plugin listens (servePlugin): a Unix socket `plugin<random>` in
 * PLUGIN_UNIX_SOCKET_DIR (without it: a fresh private directory), given to
 * PLUGIN_UNIX_SOCKET_GROUP when set, or TCP on 127.0.0.1 at the first free port from
 * PLUGIN_MIN_PORT to PLUGIN_MAX_PORT — with the AutoMTLS `tls` option when there is one.
 */
import { AddressInUse } from '../errors.js';
import type { Server } from '../rpc/server.js';
import { parseEndpoint } from '../transport/endpoint.js';
import type { TlsServerOptions } from '../transport/tls-options.js';
import { bindUnixSocket, portRange } from './listen-env.js';

type Listening = Pick<Server, 'listen' | 'close'>;

export interface PluginListener {
  /** The wirecall endpoint bound (`unix:/…` or `tcp://…`). */
  readonly endpoint: string;
  /** The handshake line's NETWORK and ADDRESS. */
  readonly network: 'unix' | 'tcp';
  readonly address: string;
  /** Removes what we made besides the socket (a private directory). */
  cleanup(): void;
}

export async function listenForHost(server: Listening, env: NodeJS.ProcessEnv, network: 'unix' | 'tcp', tls: TlsServerOptions | undefined): Promise<PluginListener> {
  const options = tls === undefined ? {} : { tls };
  if (network === 'tcp') {
    const endpoint = await listenTcp(server, env, options);
    const ep = parseEndpoint(endpoint);
    const address = ep.kind === 'tcp' ? `${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}` : '';
    return { endpoint, network, address, cleanup: () => {} };
  }
  // Our own private directory when the host gave none (the transport's listen() makes one too, but without TLS).
  const socket = await bindUnixSocket(
    env,
    (file) => server.listen(`unix:${file}`, options),
    () => server.close().catch(() => {}),
  );
  return { endpoint: socket.bound, network, address: socket.file, cleanup: socket.removeOwnDir };
}

/** The first free port from PLUGIN_MIN_PORT to PLUGIN_MAX_PORT on 127.0.0.1 (go-plugin's order); both unset: any port. */
async function listenTcp(server: Listening, env: NodeJS.ProcessEnv, options: { tls?: TlsServerOptions }): Promise<string> {
  const { min, max } = portRange(env);
  for (let port = min; port <= max; port++) {
    try {
      return await server.listen(`tcp://127.0.0.1:${port}`, options);
    } catch (err) {
      if (!(err instanceof AddressInUse) || port === max) throw err;
    }
  }
  throw new AddressInUse(`no free TCP port on 127.0.0.1 in ${min}–${max}`);
}
