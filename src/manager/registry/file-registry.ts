/**
 * The file-based service registry: `<dir>/services.json`, shared by every process of
 * this user (wirecall's and dcc-mcp-core's) that points at the same directory.
 *
 * Writes are locked read-modify-writes (see file-lock.ts: dcc-mcp-core's flock on
 * services.lock, then wirecall's older services.json.lock) that replace the file
 * atomically (temp file, fsync, rename); reads take no lock. Rows we did not write are
 * kept as they are (see row-codec.ts). Each locked write first removes the temp files
 * of writers that died mid-write (temp-files.ts). Rows registered for this process hold
 * a sentinel lock file while registered, and every row's sentinel is judged before its
 * heartbeat and pid (sentinel.ts, liveness.ts). Decisions worth knowing:
 *
 * - An empty file (0 bytes or whitespace) is an empty registry, not corruption: there is
 *   nothing to save, and a non-atomic writer (old dcc-mcp-core) leaves one for a moment.
 * - A corrupt file (not JSON, NUL bytes, top level not an array) is moved aside to
 *   `services.json.corrupted-<unix ms>` with a warning, and the registry starts empty.
 *   This happens under the lock, after a second look, so a non-atomic writer caught
 *   mid-write is not mistaken for corruption.
 * - A malformed row (no dcc_type, a wrong type…) is left out of every answer, with one
 *   warning per distinct row, but kept in the file on rewrite: it may be a newer
 *   writer's row, and it is not ours to delete. prune() leaves it too.
 * - Rows with schema_version > 1 are read like others, but a file holding one is never
 *   rewritten (RegistryFileError): its writer knows things we do not.
 * - Without the native lock module (native-lock.ts: no binary for this platform, or not
 *   installed) the registry still works, with one warning: it then excludes other
 *   wirecall processes only, writes rows without a sentinel, and judges sentinels of
 *   other rows as missing (heartbeat and pid).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidOption, RegistryFileError, ServiceAlreadyRegistered, ShutdownError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { newEntry } from './new-entry.js';
import { withFileLock, type FileLockOptions } from './file-lock.js';
import { livenessOf, type Liveness, type SentinelProbe } from './liveness.js';
import { loadNativeLock, type NativeLock } from './native-lock.js';
import { ensureRegistryDir, defaultRegistryDir } from './registry-dir.js';
import { quarantine, readRegistryFile, writeRegistryFile } from './registry-file.js';
import { holdSentinel, LOCKS_DIR, probeSentinel, releaseSentinel, removeDeadSentinel, sentinelPathFor } from './sentinel.js';
import { lockTimingFromEnv, SERVICES_LOCK_FILE, type ServicesLockOptions } from './services-lock.js';
import { removeDeadTempFiles } from './temp-files.js';
import {
  SCHEMA_VERSION,
  keyOf,
  parseRow,
  patchHeartbeat,
  patchStatus,
  rowKey,
  rowOf,
  schemaVersionOf,
} from './row-codec.js';
import {
  SERVICE_STATUSES,
  type RegisterOptions,
  type ServiceEntry,
  type ServiceRegistry,
  type ServiceStatus,
} from './types.js';

export { defaultRegistryDir };

export interface FileRegistryOptions {
  /** Registry directory; default $WIRECALL_REGISTRY_DIR, else $DCC_MCP_REGISTRY_DIR, else `<tmpdir>/dcc-mcp-registry` (see registry-dir.ts). */
  dir?: string;
  /** Rows without a heartbeat for this long are stale. Default 15000 (3 × the 5 s heartbeat). */
  staleAfterMs?: number;
  /**
   * A lock not refreshed for this long belongs to a crashed process and is taken over.
   * Default 10000, minimum 2000. A holder on this machine whose pid is gone is got past at once.
   */
  lockStaleMs?: number;
  /**
   * Give up waiting for a lock after this long (RegistryFileError). Default: for
   * services.lock, dcc-mcp-core's $DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS, else 2000 (polled every
   * $DCC_MCP_REGISTRY_LOCK_BACKOFF_MS, else 10 ms); for services.json.lock 30000 (well above lockStaleMs).
   */
  lockTimeoutMs?: number;
  /** Where warnings go (corrupt file moved aside, malformed rows, lost lock). Default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export const REGISTRY_FILE = 'services.json';
export const LOCK_FILE = 'services.json.lock'; // wirecall's older lock, kept: see file-lock.ts
export { SERVICES_LOCK_FILE, LOCKS_DIR };

export const DEFAULT_STALE_AFTER_MS = 15_000;
export const DEFAULT_LOCK_STALE_MS = 10_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/** proper-lockfile will not go lower: it refreshes a held lock every staleMs / 2, at least 1 s apart. */
const MIN_LOCK_STALE_MS = 2_000;

/** How long to wait before trusting that an unparseable file is really corrupt. */
const CORRUPT_RECHECK_MS = 50;
/** Bound on remembered warnings, so a long-lived process does not grow without end. */
const MAX_REMEMBERED_WARNINGS = 1000;

/** A read-modify-write step: `rows` is the new file content, or undefined to leave the file alone. */
type Change<T> = { result: T; rows?: unknown[] };

export class FileRegistry implements ServiceRegistry {
  readonly dir: string;
  readonly file: string;
  readonly lockPath: string;
  readonly servicesLockPath: string;
  readonly staleAfterMs: number;
  private readonly lockOptions: FileLockOptions;
  private readonly servicesTiming: { timeoutMs: number; backoffMs: number };
  private native: NativeLock | undefined;
  private probe: SentinelProbe | undefined;
  private nativeReady: Promise<void> | undefined;
  private readonly warn: (message: string) => void;
  private readonly warned = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private dirReady: Promise<void> | undefined;
  private closed = false;

  constructor(options: FileRegistryOptions = {}) {
    this.dir = path.resolve(options.dir ?? defaultRegistryDir());
    this.file = path.join(this.dir, REGISTRY_FILE);
    this.lockPath = path.join(this.dir, LOCK_FILE);
    this.servicesLockPath = path.join(this.dir, SERVICES_LOCK_FILE);
    this.staleAfterMs = checkMs('staleAfterMs', options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS);
    this.warn = options.onWarning ?? ((message) => process.emitWarning(message, { type: 'RegistryWarning' }));
    this.lockOptions = {
      staleMs: Math.max(MIN_LOCK_STALE_MS, checkMs('lockStaleMs', options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS)),
      timeoutMs: checkMs('lockTimeoutMs', options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS),
      onWarning: this.warn,
    };
    const timing = lockTimingFromEnv();
    if (options.lockTimeoutMs !== undefined) timing.timeoutMs = this.lockOptions.timeoutMs;
    this.servicesTiming = timing;
  }

  register(dccType: string, endpoint: Endpoint, options: RegisterOptions = {}): Promise<ServiceEntry> {
    return this.op(async () => {
      const entry = newEntry(dccType, endpoint, options);
      const key = rowKey(entry.dccType, entry.instanceId);
      const taken = await this.takeSentinel(entry);
      try {
        return await this.change((rows) => {
          const now = Date.now();
          for (const row of rows) {
            if (keyOf(row) !== key) continue;
            const parsed = parseRow(row);
            if (parsed.ok && livenessOf(parsed.entry, now, this.staleAfterMs, this.probe) === 'live') {
              throw new ServiceAlreadyRegistered(`${entry.dccType} instance ${entry.instanceId} is already registered`);
            }
          }
          // A stale, dead or malformed row under the same key is replaced.
          entry.registeredAt = entry.lastHeartbeat = now;
          return { result: entry, rows: [...rows.filter((row) => keyOf(row) !== key), rowOf(entry)] };
        });
      } catch (err) {
        if (taken === 'new') releaseSentinel(this.native, entry.sentinelPath!);
        throw err;
      }
    });
  }

  deregister(dccType: string, instanceId: string): Promise<boolean> {
    return this.op(async () => {
      const removed = await this.change((rows) => {
        const key = rowKey(dccType, instanceId);
        const kept = rows.filter((row) => keyOf(row) !== key);
        return kept.length === rows.length ? { result: false } : { result: true, rows: kept };
      });
      // The row is gone (or was never there): our sentinel for it, if any, goes too.
      releaseSentinel(this.native, sentinelPathFor(this.dir, dccType, instanceId));
      return removed;
    });
  }

  heartbeat(dccType: string, instanceId: string): Promise<boolean> {
    return this.op(() => this.patch(dccType, instanceId, (row) => patchHeartbeat(row, Date.now())));
  }

  setStatus(dccType: string, instanceId: string, status: ServiceStatus): Promise<boolean> {
    if (!SERVICE_STATUSES.includes(status)) {
      const expected = SERVICE_STATUSES.join(', ');
      return Promise.reject(new InvalidOption(`unknown service status ${JSON.stringify(status)}; expected one of ${expected}`));
    }
    return this.op(() => this.patch(dccType, instanceId, (row) => patchStatus(row, status)));
  }

  prune(): Promise<number> {
    return this.op(async () => {
      const sentinels: string[] = [];
      const removed = await this.change((rows) => {
        const now = Date.now();
        sentinels.length = 0;
        const kept = rows.filter((row) => {
          const parsed = parseRow(row);
          if (!parsed.ok || livenessOf(parsed.entry, now, this.staleAfterMs, this.probe) === 'live') return true;
          if (parsed.entry.sentinelPath !== undefined) sentinels.push(parsed.entry.sentinelPath);
          return false;
        });
        const count = rows.length - kept.length;
        return count === 0 ? { result: 0 } : { result: count, rows: kept };
      });
      // The sentinel files of removed rows, only in our locks/ directory and only while still free.
      const locks = path.join(this.dir, LOCKS_DIR) + path.sep;
      for (const file of sentinels) {
        if (this.native !== undefined && path.resolve(file).startsWith(locks)) removeDeadSentinel(this.native, file);
      }
      return removed;
    });
  }

  async listInstances(dccType: string): Promise<ServiceEntry[]> {
    return (await this.listAll()).filter((entry) => entry.dccType === dccType);
  }

  async listAll(): Promise<ServiceEntry[]> {
    return (await this.listWithLiveness()).filter((r) => r.liveness === 'live').map((r) => r.entry);
  }

  /** Every well-formed row with its liveness, stale and dead ones included (for tools and the CLI). */
  listWithLiveness(): Promise<Array<{ entry: ServiceEntry; liveness: Liveness }>> {
    return this.op(async () => {
      const now = Date.now();
      return (await this.entries()).map((entry) => ({ entry, liveness: livenessOf(entry, now, this.staleAfterMs, this.probe) }));
    });
  }

  get(dccType: string, instanceId: string): Promise<ServiceEntry | undefined> {
    return this.op(async () => (await this.entries()).find((e) => e.dccType === dccType && e.instanceId === instanceId));
  }

  /** Waits for this registry's pending operations; later calls fail with ShutdownError. Nothing is deregistered. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
  }

  // ---- internals ------------------------------------------------------------

  /** Runs a public operation: refused after close(), tracked so close() can wait for it. */
  private op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ShutdownError(`the registry at ${this.dir} is closed`));
    const run = this.ensureDir()
      .then(() => this.ensureNative())
      .then(fn);
    this.inFlight.add(run);
    const forget = (): void => void this.inFlight.delete(run);
    run.then(forget, forget);
    return run;
  }

  private ensureDir(): Promise<void> {
    this.dirReady ??= ensureRegistryDir(this.dir).catch((err: unknown) => {
      this.dirReady = undefined; // try again next time
      throw err;
    });
    return this.dirReady;
  }

  /** Loads the native lock once per registry (the module once per process); warns once without it. */
  private ensureNative(): Promise<void> {
    this.nativeReady ??= loadNativeLock().then((lock) => {
      if (lock instanceof Error) {
        this.warn(
          `${lock.message}; the registry at ${this.dir} excludes other wirecall processes only (not dcc-mcp-core's) ` +
            'and its rows have no sentinel',
        );
        return;
      }
      this.native = lock;
      this.probe = (file) => probeSentinel(lock, file);
    });
    return this.nativeReady;
  }

  /** A sentinel for a row of this process (none for another pid, or without the native lock). */
  private async takeSentinel(entry: ServiceEntry): Promise<'new' | 'ours' | undefined> {
    if (this.native === undefined || entry.pid !== process.pid) return undefined;
    const file = sentinelPathFor(this.dir, entry.dccType, entry.instanceId);
    let taken: ReturnType<typeof holdSentinel> = 'busy';
    // A few tries: a prober (ours or dcc-mcp-core's) holds a free sentinel for an instant.
    for (let attempt = 0; attempt < 5 && taken === 'busy'; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      try {
        taken = holdSentinel(this.native, file);
      } catch (err) {
        throw new RegistryFileError(`cannot create the sentinel lock ${file}: ${errorMessage(err)}`, { cause: err });
      }
    }
    if (taken === 'busy') {
      throw new ServiceAlreadyRegistered(`${entry.dccType} instance ${entry.instanceId} is already registered (its sentinel ${file} is held)`);
    }
    entry.sentinelPath = file;
    return taken;
  }

  /** Well-formed rows of the current file, one per key (the freshest heartbeat wins). */
  private async entries(): Promise<ServiceEntry[]> {
    const state = await readRegistryFile(this.file);
    let rows: unknown[] = [];
    if (state.kind === 'rows') rows = state.rows;
    else if (state.kind === 'corrupt') rows = await this.repair(state.reason);
    const byKey = new Map<string, ServiceEntry>();
    for (const row of rows) {
      const parsed = parseRow(row);
      if (!parsed.ok) {
        this.warnOnce(`skipping a malformed row in ${this.file}: ${parsed.problem}: ${truncate(JSON.stringify(row))}`);
        continue;
      }
      if (parsed.warning !== undefined) {
        this.warnOnce(`${this.file}: ${parsed.entry.dccType} instance ${parsed.entry.instanceId}: ${parsed.warning}`);
      }
      const key = rowKey(parsed.entry.dccType, parsed.entry.instanceId);
      const seen = byKey.get(key);
      if (seen === undefined || parsed.entry.lastHeartbeat > seen.lastHeartbeat) byKey.set(key, parsed.entry);
    }
    return [...byKey.values()];
  }

  /** A read found the file corrupt: move it aside under the lock; if we cannot (read-only dir…), read as empty. */
  private async repair(reason: string): Promise<unknown[]> {
    try {
      return await this.change((current) => ({ result: current }));
    } catch (err) {
      if (!(err instanceof RegistryFileError)) throw err;
      this.warnOnce(`${this.file} is corrupt (${reason}) and could not be moved aside (${errorMessage(err)}); reading it as empty`);
      return [];
    }
  }

  /** Applies `edit` to every row of (dccType, instanceId); false if there is none. */
  private patch(dccType: string, instanceId: string, edit: (row: Record<string, unknown>) => void): Promise<boolean> {
    const key = rowKey(dccType, instanceId);
    return this.change((rows) => {
      const next = rows.map((row) => {
        if (keyOf(row) !== key) return row;
        const copy = { ...(row as Record<string, unknown>) };
        edit(copy);
        return copy;
      });
      return next.some((row, i) => row !== rows[i]) ? { result: true, rows: next } : { result: false };
    });
  }

  /** One locked read-modify-write of services.json. */
  private async change<T>(apply: (rows: unknown[]) => Change<T>): Promise<T> {
    // Cheap, and brings back a directory a temp cleaner removed while we ran.
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 }).catch(() => undefined);
    const services: ServicesLockOptions | undefined =
      this.native === undefined ? undefined : { lock: this.native, path: this.servicesLockPath, ...this.servicesTiming };
    return withFileLock(this.file, this.lockPath, { ...this.lockOptions, services }, async ({ holderDied }) => {
      // Temp files of writers that died mid-write (see temp-files.ts).
      const cutoff = holderDied ? Infinity : Date.now() - this.lockOptions.staleMs;
      await removeDeadTempFiles(this.file, cutoff, (m) => this.warnOnce(m));
      const rows = await this.readLocked();
      const newest = Math.max(SCHEMA_VERSION, ...rows.map(schemaVersionOf));
      const { result, rows: next } = apply(rows);
      if (next !== undefined) {
        if (newest > SCHEMA_VERSION) {
          throw new RegistryFileError(
            `${this.file} holds rows with schema_version ${newest}, newer than the ${SCHEMA_VERSION} ` +
              'this version writes; refusing to rewrite it',
          );
        }
        await writeRegistryFile(this.file, next);
      }
      return result;
    });
  }

  /** The rows under the lock; a file that stays corrupt is moved aside and counts as empty. */
  private async readLocked(): Promise<unknown[]> {
    let state = await readRegistryFile(this.file);
    if (state.kind === 'corrupt') {
      // A writer that does not rename (old dcc-mcp-core) may be half-way: look again.
      const first = state.bytes;
      await new Promise((resolve) => setTimeout(resolve, CORRUPT_RECHECK_MS));
      state = await readRegistryFile(this.file);
      if (state.kind === 'corrupt' && state.bytes.equals(first)) {
        const aside = await quarantine(this.file);
        if (aside !== undefined) {
          this.warn(`${this.file} was corrupt (${state.reason}); moved it aside to ${aside}; the registry starts empty`);
        }
        return [];
      }
      if (state.kind === 'corrupt') {
        throw new RegistryFileError(`${this.file} is being rewritten by a writer that does not lock; try again`);
      }
    }
    return state.kind === 'rows' ? state.rows : [];
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    if (this.warned.size >= MAX_REMEMBERED_WARNINGS) this.warned.clear();
    this.warned.add(message);
    this.warn(message);
  }
}

function checkMs(name: string, value: number): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
    throw new InvalidOption(`${name} must be a positive number of ms (or Infinity), got ${value}`);
  }
  return value;
}

function truncate(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
