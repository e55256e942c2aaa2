/**
 * Deciding what to do with something already at a Unix socket path before we bind.
 *
 * Only a socket that provably has no server (connect: ECONNREFUSED/ENOENT) is removed.
 * A live server, a busy one, a probe we may not make (EACCES) or a probe that times out
 * are all refused without deleting anything; so is every non-socket (regular file,
 * directory, symlink, fifo…), unlike pyvider which deletes regular files.
 */
import type { BigIntStats } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import { AddressInUse, TransportError } from '../errors.js';
import { errorCode } from '../util/error-code.js';
import { errorMessage } from '../util/error-message.js';

export const PROBE_TIMEOUT_MS = 500;

type Probe = { state: 'alive' } | { state: 'stale' } | { state: 'timeout' } | { state: 'error'; error: Error };

/** Makes `target` free to bind: returns when nothing is there, or after removing a stale socket. */
export async function clearStaleSocket(target: string, url: string): Promise<void> {
  const st = await lstatOrUndefined(target, url);
  if (st === undefined) return;
  const what = describe(st);
  if (what !== 'socket') {
    throw new TransportError(`cannot listen on ${url}: ${target} exists and is ${what}, not a socket; refusing to replace it`);
  }
  const probe = await probeSocket(target, PROBE_TIMEOUT_MS);
  switch (probe.state) {
    case 'alive':
      throw new AddressInUse(`cannot listen on ${url}: already in use by a running server`);
    case 'timeout':
      throw new AddressInUse(
        `cannot listen on ${url}: a server may be running there (no answer within ${PROBE_TIMEOUT_MS} ms); not removing ${target}`,
      );
    case 'error': {
      const code = errorCode(probe.error);
      if (code === 'EAGAIN') {
        throw new AddressInUse(`cannot listen on ${url}: already in use by a running server (its backlog is full)`, {
          cause: probe.error,
        });
      }
      const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied while probing it' : errorMessage(probe.error);
      throw new TransportError(`cannot listen on ${url}: existing socket ${target} could not be checked (${why}); not removing it`, {
        cause: probe.error,
      });
    }
    case 'stale':
      break;
  }
  // Only unlink the very file we probed: it may have been replaced by a live server meanwhile.
  const again = await lstatOrUndefined(target, url);
  if (again === undefined) return;
  if (again.dev !== st.dev || again.ino !== st.ino) {
    throw new AddressInUse(`cannot listen on ${url}: ${target} was replaced while we checked it`);
  }
  try {
    await fs.unlink(target);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') {
      throw new TransportError(`cannot listen on ${url}: cannot remove stale socket ${target}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
}

/** Connects briefly to learn whether a server is behind the socket file. */
export function probeSocket(path: string, timeoutMs: number): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    const done = (result: Probe): void => {
      clearTimeout(timer);
      socket.removeAllListeners('connect');
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ state: 'timeout' }), timeoutMs);
    socket.once('connect', () => done({ state: 'alive' }));
    socket.once('error', (err) => {
      const code = errorCode(err);
      done(code === 'ECONNREFUSED' || code === 'ENOENT' ? { state: 'stale' } : { state: 'error', error: err });
    });
  });
}

async function lstatOrUndefined(target: string, url: string): Promise<BigIntStats | undefined> {
  try {
    return await fs.lstat(target, { bigint: true });
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw new TransportError(`cannot listen on ${url}: cannot inspect ${target}: ${errorMessage(err)}`, { cause: err });
  }
}

function describe(st: BigIntStats): string {
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a FIFO';
  return 'a device or other special file';
}
