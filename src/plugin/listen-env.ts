/**
 * Where the host asked its plugin to listen, read from the environment: TCP ports from
 * PLUGIN_MIN_PORT to PLUGIN_MAX_PORT (both unset: any port), or a Unix socket
 * `plugin<random>` in PLUGIN_UNIX_SOCKET_DIR (without it: a fresh private directory),
 * handed to PLUGIN_UNIX_SOCKET_GROUP when set. The bind itself is each plugin side's own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidOption } from '../errors.js';
import { ENV_MAX_PORT, ENV_MIN_PORT, ENV_UNIX_SOCKET_DIR, ENV_UNIX_SOCKET_GROUP, checkPortRange } from './handshake.js';
import { setGroupWritable } from './socket-group.js';

/** The ports to try, in go-plugin's order (lowest first). Throws InvalidOption. */
export function portRange(env: NodeJS.ProcessEnv): { min: number; max: number } {
  const min = portOf(env[ENV_MIN_PORT], ENV_MIN_PORT);
  const max = portOf(env[ENV_MAX_PORT], ENV_MAX_PORT);
  checkPortRange(min, max);
  return { min, max };
}

export interface BoundSocket<T> {
  readonly bound: T;
  /** The socket's path. */
  readonly file: string;
  /** Removes the private directory made for it when the host gave none. */
  removeOwnDir(): void;
}

/**
 * Binds `bind(file)`, then hands the socket to PLUGIN_UNIX_SOCKET_GROUP when set. If that
 * fails (InvalidOption), `unbind` stops serving on it (and removes the file, if the server
 * does not) and nothing is left.
 */
export async function bindUnixSocket<T>(env: NodeJS.ProcessEnv, bind: (file: string) => Promise<T>, unbind: (file: string) => unknown): Promise<BoundSocket<T>> {
  const given = env[ENV_UNIX_SOCKET_DIR];
  const ownDir = given === undefined || given === '' ? mkdtempSync(path.join(os.tmpdir(), 'plugin-dir')) : undefined;
  const removeOwnDir = (): void => {
    if (ownDir !== undefined) rmSync(ownDir, { recursive: true, force: true });
  };
  const file = path.resolve(ownDir ?? given!, `plugin${randomBytes(6).toString('hex')}`);
  let bound: T;
  try {
    bound = await bind(file);
  } catch (err) {
    removeOwnDir();
    throw err;
  }
  const group = env[ENV_UNIX_SOCKET_GROUP];
  try {
    if (group !== undefined && group !== '') setGroupWritable(file, group, 0o660, ENV_UNIX_SOCKET_GROUP);
  } catch (err) {
    // The host could not reach the socket: stop serving on it.
    await unbind(file);
    removeOwnDir();
    throw err;
  }
  return { bound, file, removeOwnDir };
}

function portOf(value: string | undefined, name: string): number {
  if (value === undefined || value === '') return 0;
  if (!/^[0-9]{1,5}$/.test(value)) throw new InvalidOption(`${name} must be a port number, got ${JSON.stringify(value)}`);
  return Number(value);
}
