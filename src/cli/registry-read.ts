/**
 * Reading the service registry without changing it, for `wirecall services` and for a
 * DCC type as the target of call, ping and notify. Two backends, chosen as the
 * TransportManager chooses them: `--registry-dir` (a services.json directory) wins, else
 * `$WIRECALL_REGISTRY` (a redis:// URL) names a Redis registry, else the default
 * directory.
 *
 * The file: FileRegistry's reads create a missing directory and move a corrupt
 * services.json aside (under its lock): right for a process that registers, wrong for a
 * command that only looks. This reads through the registry's own helpers (the file read
 * and classified as FileRegistry reads it, rows parsed and judged alive the same way) and
 * writes nothing: a missing directory or file is an empty registry, a corrupt file is
 * read as empty with a warning and left where it is for the next writer to repair.
 *
 * Redis: one atomic read of the live rows (RedisRegistry's snapshot, which changes
 * nothing), on a client made for it and closed after.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConnectionFailed, InvalidOption, ManagerError, RegistryFileError } from '../index.js';
import type { Liveness, ServiceEntry } from '../manager/index.js';
import { DEFAULT_STALE_AFTER_MS, REGISTRY_FILE } from '../manager/registry/file-registry.js';
import { livenessOf, type SentinelProbe } from '../manager/registry/liveness.js';
import { loadNativeLock } from '../manager/registry/native-lock.js';
import { REGISTRY_DIR_ENV, sharedRegistryDir } from '../manager/registry/registry-dir.js';
import { readRegistryFile } from '../manager/registry/registry-file.js';
import { parseRow, rowKey } from '../manager/registry/row-codec.js';
import { probeSentinel } from '../manager/registry/sentinel.js';
import { isRedisUrl, redactUrl } from '../manager/registry-redis/client.js';
import { REGISTRY_ENV } from '../manager/registry-redis/open.js';
import { RedisRegistry } from '../manager/registry-redis/redis-registry.js';
import { errorCode } from '../util/error-code.js';
import { errorMessage } from '../util/error-message.js';
import { registryDirOf } from './common.js';

export interface ListedRow {
  entry: ServiceEntry;
  liveness: Liveness;
}

/** The rows of the registry a command names, and where they were read (for messages). */
export interface RegistryView {
  /** The directory (resolved) or the Redis URL without its password. */
  where: string;
  rows: ListedRow[];
}

/** The registry a command reads: `--registry-dir`, else `$WIRECALL_REGISTRY` (Redis), else the default directory. */
export function registrySourceOf(flags: { registryDir?: string }): { kind: 'file'; dir: string } | { kind: 'redis'; url: string } {
  const url = process.env[REGISTRY_ENV];
  if (flags.registryDir === undefined && url !== undefined && url !== '') {
    if (!isRedisUrl(url)) throw new InvalidOption(`$${REGISTRY_ENV} must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
    return { kind: 'redis', url };
  }
  return { kind: 'file', dir: path.resolve(registryDirOf(flags)) };
}

/** Every row of the registry the command names, with its liveness, changing nothing. */
export async function readRegistry(flags: { registryDir?: string }, warn: (message: string) => void): Promise<RegistryView> {
  const source = registrySourceOf(flags);
  if (source.kind === 'file') return { where: source.dir, rows: await readRegistryRows(source.dir, warn) };
  return { where: redactUrl(source.url), rows: await readRedisRows(source.url, warn) };
}

/**
 * The live rows of a Redis registry (expired leases are gone, so all are live). A server
 * that cannot be reached, or a connection lost while reading, is ConnectionFailed (the
 * CLI exits 3), after at most the client's connect timeout (5 s).
 */
export async function readRedisRows(url: string, warn: (message: string) => void): Promise<ListedRow[]> {
  const registry = new RedisRegistry({ url, onWarning: warn });
  try {
    return await registry.listWithLiveness();
  } catch (err) {
    if (err instanceof InvalidOption) throw err; // no `redis` package: say so (exit 2)
    const message = err instanceof ManagerError ? err.message : `cannot read the Redis registry at ${redactUrl(url)}: ${errorMessage(err)}`;
    throw new ConnectionFailed(message, { cause: err });
  } finally {
    await registry.close().catch(() => undefined);
  }
}

/**
 * Every well-formed row of `<dir>/services.json` with its liveness (one per dccType and
 * instance id: the freshest heartbeat wins), as FileRegistry.listWithLiveness() would
 * answer, but touching nothing on disk. `warn` gets one line per oddity.
 */
export async function readRegistryRows(dir: string, warn: (message: string) => void): Promise<ListedRow[]> {
  const resolved = path.resolve(dir);
  if (!(await checkDir(resolved))) return [];
  const file = path.join(resolved, REGISTRY_FILE);
  const state = await readRegistryFile(file);
  if (state.kind === 'corrupt') {
    warn(`${file} is corrupt (${state.reason}); listing it as empty and leaving it as it is (the next registration moves it aside)`);
    return [];
  }
  if (state.kind !== 'rows') return [];
  const byKey = new Map<string, ServiceEntry>();
  for (const row of state.rows) {
    const parsed = parseRow(row);
    if (!parsed.ok) {
      warn(`skipping a malformed row in ${file}: ${parsed.problem}: ${truncate(JSON.stringify(row) ?? String(row))}`);
      continue;
    }
    if (parsed.warning !== undefined) warn(`${file}: ${parsed.entry.dccType} instance ${parsed.entry.instanceId}: ${parsed.warning}`);
    const key = rowKey(parsed.entry.dccType, parsed.entry.instanceId);
    const seen = byKey.get(key);
    if (seen === undefined || parsed.entry.lastHeartbeat > seen.lastHeartbeat) byKey.set(key, parsed.entry);
  }
  const lock = await loadNativeLock();
  // Without the native lock, sentinels count as missing: liveness falls back to heartbeat and pid.
  const probe: SentinelProbe | undefined = lock instanceof Error ? undefined : (f) => probeSentinel(lock, f);
  const now = Date.now();
  return [...byKey.values()].map((entry) => ({ entry, liveness: livenessOf(entry, now, DEFAULT_STALE_AFTER_MS, probe) }));
}

/**
 * False when `dir` does not exist (an empty registry). The built-in shared default must
 * be safe to trust, as FileRegistry requires of it (registry-dir.ts): a directory another
 * user can write to could point our calls anywhere.
 */
async function checkDir(dir: string): Promise<boolean> {
  let st;
  try {
    st = await fs.lstat(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw new RegistryFileError(`cannot read the registry directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  if (process.platform === 'win32' || dir !== sharedRegistryDir()) return true;
  const unsafe = (why: string): never => {
    throw new RegistryFileError(`unsafe registry directory ${dir}: ${why}; remove it or set ${REGISTRY_DIR_ENV}`);
  };
  if (st.isSymbolicLink()) unsafe('it is a symlink');
  if (!st.isDirectory()) unsafe('it is not a directory');
  if (process.getuid && st.uid !== process.getuid()) unsafe(`it is owned by uid ${st.uid}, not by us`);
  if ((st.mode & 0o022) !== 0) unsafe(`mode ${(st.mode & 0o777).toString(8)} lets group/other write to it`);
  return true;
}

function truncate(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
