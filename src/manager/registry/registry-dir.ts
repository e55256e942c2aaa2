/**
 * Where services.json lives. Explicit `dir` option, else $WIRECALL_REGISTRY_DIR, else
 * a per-user directory in the system temp dir. The default is private (0700, ours,
 * not a symlink): the registry tells clients where to connect, so a directory another
 * user could write to would let them redirect our calls.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryFileError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';

export const REGISTRY_DIR_ENV = 'WIRECALL_REGISTRY_DIR';

/** The directory a registry uses when none is given (the CLI's default too). Does not create it. */
export function defaultRegistryDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[REGISTRY_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
  return perUserRegistryDir();
}

/** `<tmpdir>/wirecall-registry-<uid>` (the user name on Windows, where tmpdir is per-user anyway). */
export function perUserRegistryDir(): string {
  const who = process.getuid ? String(process.getuid()) : os.userInfo().username;
  return path.join(os.tmpdir(), `wirecall-registry-${who}`);
}

/**
 * Creates `dir` if missing (0700). The per-user default is also checked to be private;
 * a directory the user chose is trusted as it is (it may be shared on purpose, e.g.
 * with dcc-mcp-core's Python tools).
 */
export async function ensureRegistryDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new RegistryFileError(`cannot create the registry directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  if (process.platform !== 'win32' && path.resolve(dir) === perUserRegistryDir()) await checkPrivate(dir);
}

async function checkPrivate(dir: string): Promise<void> {
  const unsafe = (why: string): never => {
    throw new RegistryFileError(`unsafe registry directory ${dir}: ${why}; remove it or set ${REGISTRY_DIR_ENV}`);
  };
  const st = await fs.lstat(dir);
  if (st.isSymbolicLink()) unsafe('it is a symlink');
  if (!st.isDirectory()) unsafe('it is not a directory');
  if (process.getuid && st.uid !== process.getuid()) unsafe(`it is owned by uid ${st.uid}, not by us`);
  if ((st.mode & 0o077) !== 0) unsafe(`mode ${(st.mode & 0o777).toString(8)} gives group/other access`);
}
