/**
 * Where a plugin listens (servePlugin): a Unix socket `plugin<random>` in
 * PLUGIN_UNIX_SOCKET_DIR (without it: a fresh private directory), given to
 * PLUGIN_UNIX_SOCKET_GROUP when set, or TCP on 127.0.0.1 at the first free port from
 * PLUGIN_MIN_PORT to PLUGIN_MAX_PORT — with the AutoMTLS `tls` option when there is one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AddressInUse, InvalidOption } from '../errors.js';
import type { Server } from '../rpc/server.js';
import { parseEndpoint } from '../transport/endpoint.js';
import type { TlsServerOptions } from '../transport/tls-options.js';
import { ENV_MAX_PORT, ENV_MIN_PORT, ENV_UNIX_SOCKET_DIR, ENV_UNIX_SOCKET_GROUP, checkPortRange } from './handshake.js';
import { setGroupWritable } from './socket-group.js';

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
  const given = env[ENV_UNIX_SOCKET_DIR];
  // Our own private directory when the host gave none (the transport's listen() makes one too, but without TLS).
  const own = given === undefined || given === '' ? mkdtempSync(path.join(os.tmpdir(), 'plugin-dir')) : undefined;
  const cleanup = (): void => {
    if (own !== undefined) rmSync(own, { recursive: true, force: true });
  };
  const file = path.resolve(own ?? given!, `plugin${randomBytes(6).toString('hex')}`);
  let endpoint: string;
  try {
    endpoint = await server.listen(`unix:${file}`, options);
  } catch (err) {
    cleanup();
    throw err;
  }
  const group = env[ENV_UNIX_SOCKET_GROUP];
  try {
    if (group !== undefined && group !== '') setGroupWritable(file, group, 0o660, ENV_UNIX_SOCKET_GROUP);
  } catch (err) {
    // The host could not reach the socket: stop serving on it.
    await server.close().catch(() => {});
    cleanup();
    throw err;
  }
  return { endpoint, network, address: file, cleanup };
}

/** The first free port from PLUGIN_MIN_PORT to PLUGIN_MAX_PORT on 127.0.0.1 (go-plugin's order); both unset: any port. */
async function listenTcp(server: Listening, env: NodeJS.ProcessEnv, options: { tls?: TlsServerOptions }): Promise<string> {
  const min = portOf(env[ENV_MIN_PORT], ENV_MIN_PORT);
  const max = portOf(env[ENV_MAX_PORT], ENV_MAX_PORT);
  checkPortRange(min, max);
  for (let port = min; port <= max; port++) {
    try {
      return await server.listen(`tcp://127.0.0.1:${port}`, options);
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
