/**
 * Where services.json lives. Explicit `dir` option, else $WIRECALL_REGISTRY_DIR, else
 * $DCC_MCP_REGISTRY_DIR, else dcc-mcp-core's own default `<tmpdir>/dcc-mcp-registry`, so
 * wirecall and dcc-mcp-core (0.20.49: `default_registry_dir()` is
 * `os.environ.get("DCC_MCP_REGISTRY_DIR") or tempfile.gettempdir()/"dcc-mcp-registry"`)
 * share one registry without configuration.
 *
 * The default lives in a shared temp dir, and the registry tells clients where to connect,
 * so a directory another user could write to would let them redirect our calls: the
 * default is refused unless it is a real directory, ours, and not writable by group/other
 * (dcc-mcp-core creates it 0755, which passes; we create it 0700).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RegistryFileError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';

export const REGISTRY_DIR_ENV = 'WIRECALL_REGISTRY_DIR';
/** dcc-mcp-core's variable (its `constants.ENV_REGISTRY_DIR`). */
export const DCC_MCP_REGISTRY_DIR_ENV = 'DCC_MCP_REGISTRY_DIR';
/** The name of dcc-mcp-core's default directory inside the temp dir. */
export const DCC_MCP_REGISTRY_DIR_NAME = 'dcc-mcp-registry';

/** The directory a registry uses when none is given (the CLI's default too). Does not create it. */
export function defaultRegistryDir(env: NodeJS.ProcessEnv = process.env): string {
  for (const name of [REGISTRY_DIR_ENV, DCC_MCP_REGISTRY_DIR_ENV]) {
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
  }
  return sharedRegistryDir();
}

/** dcc-mcp-core's default: `<tmpdir>/dcc-mcp-registry`. */
export function sharedRegistryDir(): string {
  return path.join(os.tmpdir(), DCC_MCP_REGISTRY_DIR_NAME);
}

/**
 * Creates `dir` if missing (0700). The built-in default is also checked to be safe; a
 * directory the user chose (option or environment) is trusted as it is.
 */
export async function ensureRegistryDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new RegistryFileError(`cannot create the registry directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  if (process.platform !== 'win32' && path.resolve(dir) === sharedRegistryDir()) await checkSafe(dir);
}

async function checkSafe(dir: string): Promise<void> {
  const unsafe = (why: string): never => {
    throw new RegistryFileError(`unsafe registry directory ${dir}: ${why}; remove it or set ${REGISTRY_DIR_ENV}`);
  };
  const st = await fs.lstat(dir);
  if (st.isSymbolicLink()) unsafe('it is a symlink');
  if (!st.isDirectory()) unsafe('it is not a directory');
  if (process.getuid && st.uid !== process.getuid()) unsafe(`it is owned by uid ${st.uid}, not by us`);
  if ((st.mode & 0o022) !== 0) unsafe(`mode ${(st.mode & 0o777).toString(8)} lets group/other write to it`);
}
