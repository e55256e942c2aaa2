/**
 * Unix-socket transport; also serves `pipe://name` (a Windows named pipe on win32, where
 * net speaks `\\.\pipe\name` with the same API; a Unix socket in the private runtime dir
 * elsewhere).
 *
 * Listening safely:
 * - whatever is at the path already is handled by clearStaleSocket (stale.ts);
 * - the socket is bound inside a fresh 0700 directory next to the target, chmod'ed
 *   there, then hard-linked into place: nobody can connect before the mode is set, and
 *   link fails with EEXIST instead of clobbering a file that appeared meanwhile;
 * - the file is removed on close (only if it is still ours) and on SIGINT/SIGTERM/exit
 *   (socket-registry.ts).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { AddressInUse, InvalidEndpoint, InvalidOption, TransportError } from '../errors.js';
import { connectSocket } from './connect.js';
import { formatEndpoint, pipePath, unixPathTooLong, validateEndpoint, type Endpoint } from './endpoint.js';
import { errorCode } from '../util/error-code.js';
import { errorMessage } from '../util/error-message.js';
import { listenerFor, startNetServer } from './net-server.js';
import { identify, releaseSocketFile, trackSocketFile, type OwnedSocketFile } from './socket-registry.js';
import { clearStaleSocket } from './stale.js';
import type { ConnectOptions, Listener, ListenOptions, Transport } from './transport.js';

type LocalEndpoint = Extract<Endpoint, { kind: 'unix' | 'pipe' }>;
type SocketMode = 0o600 | 0o660;

// mkdtemp appends 6 characters: "<dir>/.wc-XXXXXX/s".
const TEMP_PREFIX = '.wc-';
const TEMP_OVERHEAD = `/${TEMP_PREFIX}XXXXXX/s`;

export class UnixTransport implements Transport {
  /** One class serves both kinds; `kind` only says which one transportFor() asked for. */
  constructor(readonly kind: 'unix' | 'pipe' = 'unix') {}

  async listen(endpoint: Endpoint, options: ListenOptions): Promise<Listener> {
    const ep = asLocal(endpoint);
    const mode = socketMode(options);
    const url = formatEndpoint(ep);
    if (ep.kind === 'pipe' && process.platform === 'win32') {
      const pipe = pipePath(ep.name);
      const server = await startNetServer({ path: pipe, backlog: options.backlog }, options, (err) => listenError(err, url, pipe));
      return listenerFor(ep, () => server.close());
    }
    const target = ep.kind === 'unix' ? ep.path : pipePath(ep.name);
    await checkParentDir(target, url);
    await clearStaleSocket(target, url);
    const server = await bindSafely(target, url, mode, options);
    return ownedListener(ep, server, target);
  }

  /**
   * Listens on a fresh, unpredictable socket path inside a new private (0700) directory
   * under os.tmpdir(); close removes both. On Windows: a random named pipe.
   */
  async listenPrivate(options: ListenOptions): Promise<Listener> {
    const mode = socketMode(options);
    const random = randomBytes(8).toString('hex');
    if (process.platform === 'win32') return this.listen({ kind: 'pipe', name: `wirecall-${random}` }, options);
    let dir: string;
    try {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wirecall-sock-'));
    } catch (err) {
      throw new TransportError(`cannot create a private socket directory under ${os.tmpdir()}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const target = path.join(dir, `${random}.sock`);
    const ep: LocalEndpoint = { kind: 'unix', path: target };
    try {
      const tooLong = unixPathTooLong(target);
      if (tooLong !== undefined) {
        throw new TransportError(`cannot create a private socket under ${os.tmpdir()}: ${tooLong}; set TMPDIR to a shorter directory`);
      }
      // The directory is private from the start, so binding in place leaves no window to close.
      const server = await bindDirect(target, formatEndpoint(ep), mode, options);
      return ownedListener(ep, server, target, dir);
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  connect(endpoint: Endpoint, options?: ConnectOptions): Promise<net.Socket> {
    let ep: LocalEndpoint;
    let socketPath: string;
    try {
      ep = asLocal(endpoint);
      socketPath = ep.kind === 'unix' ? ep.path : pipePath(ep.name);
    } catch (err) {
      return Promise.reject(err);
    }
    return connectSocket({ path: socketPath }, formatEndpoint(ep), options);
  }
}

function asLocal(endpoint: Endpoint): LocalEndpoint {
  const ep = validateEndpoint(endpoint);
  if (ep.kind === 'tcp') {
    throw new InvalidEndpoint(formatEndpoint(ep), 'the unix transport only handles unix: and pipe:// endpoints');
  }
  return ep;
}

function socketMode(options: ListenOptions): SocketMode {
  const mode = options.socketMode ?? 0o600;
  if (mode !== 0o600 && mode !== 0o660) {
    throw new InvalidOption(`socketMode must be 0o600 or 0o660, got 0o${Number(mode).toString(8)}`);
  }
  return mode;
}

async function checkParentDir(target: string, url: string): Promise<void> {
  const dir = path.dirname(target);
  try {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new TransportError(`cannot listen on ${url}: ${dir} is not a directory`);
  } catch (err) {
    if (err instanceof TransportError) throw err;
    const why = errorCode(err) === 'ENOENT' ? 'does not exist' : `cannot be inspected: ${errorMessage(err)}`;
    throw new TransportError(`cannot listen on ${url}: directory ${dir} ${why}`, { cause: err });
  }
}

/** Bind in a private temp dir + chmod + link into place; direct bind when that is impossible. */
async function bindSafely(target: string, url: string, mode: SocketMode, options: ListenOptions): Promise<net.Server> {
  if (unixPathTooLong(path.dirname(target) + TEMP_OVERHEAD) === undefined) {
    const server = await bindViaPrivateDir(target, url, mode, options);
    if (server !== undefined) return server;
  }
  // Fallback (temp path too long, or no hard links on this file system): there is a
  // short window between bind and chmod where the umask decides the mode.
  return bindDirect(target, url, mode, options);
}

async function bindViaPrivateDir(
  target: string,
  url: string,
  mode: SocketMode,
  options: ListenOptions,
): Promise<net.Server | undefined> {
  let tmpDir: string;
  try {
    tmpDir = await fs.mkdtemp(path.join(path.dirname(target), TEMP_PREFIX));
  } catch (err) {
    throw listenError(err as Error, url, target);
  }
  const tmp = path.join(tmpDir, 's');
  try {
    const server = await startNetServer({ path: tmp, backlog: options.backlog }, options, (err) => listenError(err, url, target));
    try {
      await fs.chmod(tmp, mode);
      if (await linkInto(tmp, target, url)) return server;
      server.close();
      return undefined;
    } catch (err) {
      server.close();
      throw err instanceof TransportError ? err : listenError(err as Error, url, target);
    }
  } finally {
    // Only the temporary name goes; the linked target keeps the socket alive.
    await fs.rm(tmp, { force: true });
    await fs.rmdir(tmpDir).catch(() => undefined);
  }
}

/** true once linked; false when this file system has no hard links for us. */
async function linkInto(tmp: string, target: string, url: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.link(tmp, target);
      return true;
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') return false;
      // Something appeared since we checked: judge it the same way, once.
      if (attempt === 0) await clearStaleSocket(target, url);
    }
  }
  throw new AddressInUse(`cannot listen on ${url}: ${target} keeps being re-created by another process`);
}

async function bindDirect(target: string, url: string, mode: SocketMode, options: ListenOptions): Promise<net.Server> {
  const server = await startNetServer({ path: target, backlog: options.backlog }, options, (err) => listenError(err, url, target));
  try {
    await fs.chmod(target, mode);
  } catch (err) {
    server.close();
    throw new TransportError(`cannot listen on ${url}: chmod ${target} failed: ${errorMessage(err)}`, { cause: err });
  }
  return server;
}

function listenError(err: Error, url: string, target: string): TransportError {
  const cause = { cause: err };
  const dir = path.dirname(target);
  switch (errorCode(err)) {
    case 'EADDRINUSE':
      return new AddressInUse(`cannot listen on ${url}: ${target} is already in use`, cause);
    case 'EACCES':
    case 'EPERM':
      return new TransportError(`cannot listen on ${url}: permission denied creating a socket in ${dir}`, cause);
    case 'ENOENT':
      return new TransportError(`cannot listen on ${url}: directory ${dir} does not exist`, cause);
    default:
      return new TransportError(`cannot listen on ${url}: ${errorMessage(err)}`, cause);
  }
}

function ownedListener(ep: LocalEndpoint, server: net.Server, target: string, dir?: string): Listener {
  let file: OwnedSocketFile;
  try {
    file = identify(target, dir);
  } catch (err) {
    server.close();
    throw new TransportError(`cannot listen on ${formatEndpoint(ep)}: socket ${target} vanished after bind`, { cause: err });
  }
  trackSocketFile(file);
  return listenerFor(ep, () => {
    // Unlink first: libuv also unlinks the name it bound when the server closes, which
    // for a direct bind is the target itself.
    releaseSocketFile(file);
    server.close();
  });
}

export const unixTransport: UnixTransport = new UnixTransport('unix');
export const pipeTransport: UnixTransport = new UnixTransport('pipe');
