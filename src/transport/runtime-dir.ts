/**
 * The per-user private directory where `pipe://name` sockets live on POSIX.
 *
 * `$XDG_RUNTIME_DIR/wirecall` when XDG_RUNTIME_DIR is set (and absolute), else
 * `<os.tmpdir()>/wirecall-<uid>`. A shared tmp dir lets anyone pre-create that name,
 * so an existing directory is only trusted when it is a real directory (not a
 * symlink), owned by us, with no group/other permission bits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TransportError } from '../errors.js';
import { errorCode } from '../util/error-code.js';
import { errorMessage } from '../util/error-message.js';

/** Where the runtime dir would be, without touching the file system. */
export function runtimeDirPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_RUNTIME_DIR'];
  // The XDG spec says to ignore a relative value.
  if (xdg !== undefined && xdg !== '' && path.isAbsolute(xdg)) return path.join(xdg, 'wirecall');
  return path.join(os.tmpdir(), `wirecall-${currentUid()}`);
}

/** Returns the runtime dir, creating it (0700) if missing; throws TransportError if it is unsafe. */
export function privateRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = runtimeDirPath(env);
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    // mkdir applies the umask; make sure the owner can actually use it.
    fs.chmodSync(dir, 0o700);
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') {
      throw new TransportError(`cannot create the private runtime directory ${dir}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
  checkPrivateDir(dir);
  return dir;
}

/** Throws a TransportError unless `dir` is a real directory owned by us with mode 0700 or stricter. */
export function checkPrivateDir(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (err) {
    throw new TransportError(`cannot inspect the private runtime directory ${dir}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  if (st.isSymbolicLink()) {
    throw new TransportError(`unsafe runtime directory ${dir}: it is a symlink; remove it or set XDG_RUNTIME_DIR`);
  }
  if (!st.isDirectory()) {
    throw new TransportError(`unsafe runtime directory ${dir}: it exists but is not a directory`);
  }
  const uid = currentUid();
  if (st.uid !== uid) {
    throw new TransportError(`unsafe runtime directory ${dir}: owned by uid ${st.uid}, not by the current user (uid ${uid})`);
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
    throw new TransportError(
      `unsafe runtime directory ${dir}: mode ${mode} gives group/other access; it must be 0700 (chmod 700 ${dir})`,
    );
  }
}

function currentUid(): number {
  // POSIX only; callers never reach here on win32.
  return process.getuid ? process.getuid() : 0;
}
