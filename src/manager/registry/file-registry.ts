/**
 * The file-based service registry: `<dir>/services.json`, shared by every process of
 * this user (wirecall's and dcc-mcp-core's) that points at the same directory.
 *
 * Writes are locked read-modify-writes (see file-lock.ts) that replace the file
 * atomically (temp file, fsync, rename); reads take no lock. Rows we did not write are
 * kept as they are (see row-codec.ts). Each locked write first removes the temp files
 * of writers that died mid-write (temp-files.ts). Decisions worth knowing:
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
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidOption, RegistryFileError, SerializationError, ServiceAlreadyRegistered, ShutdownError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';
import { validateEndpoint, type Endpoint } from '../../transport/endpoint.js';
import { addressOf } from './address.js';
import { withFileLock, type FileLockOptions } from './file-lock.js';
import { livenessOf, type Liveness } from './liveness.js';
import { ensureRegistryDir, defaultRegistryDir } from './registry-dir.js';
import { quarantine, readRegistryFile, writeRegistryFile } from './registry-file.js';
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
  unknownFields,
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
  /** Give up waiting for the lock after this long (RegistryFileError). Default 30000 (well above lockStaleMs). */
  lockTimeoutMs?: number;
  /** Where warnings go (corrupt file moved aside, malformed rows, lost lock). Default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export const REGISTRY_FILE = 'services.json';
export const LOCK_FILE = 'services.json.lock'; // why not services.lock: see file-lock.ts

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
  readonly staleAfterMs: number;
  private readonly lockOptions: FileLockOptions;
  private readonly warn: (message: string) => void;
  private readonly warned = new Set<string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private dirReady: Promise<void> | undefined;
  private closed = false;

  constructor(options: FileRegistryOptions = {}) {
    this.dir = path.resolve(options.dir ?? defaultRegistryDir());
    this.file = path.join(this.dir, REGISTRY_FILE);
    this.lockPath = path.join(this.dir, LOCK_FILE);
    this.staleAfterMs = checkMs('staleAfterMs', options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS);
    this.warn = options.onWarning ?? ((message) => process.emitWarning(message, { type: 'RegistryWarning' }));
    this.lockOptions = {
      staleMs: Math.max(MIN_LOCK_STALE_MS, checkMs('lockStaleMs', options.lockStaleMs ?? DEFAULT_LOCK_STALE_MS)),
      timeoutMs: checkMs('lockTimeoutMs', options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS),
      onWarning: this.warn,
    };
  }

  register(dccType: string, endpoint: Endpoint, options: RegisterOptions = {}): Promise<ServiceEntry> {
    return this.op(async () => {
      const entry = newEntry(dccType, endpoint, options);
      const key = rowKey(entry.dccType, entry.instanceId);
      return this.change((rows) => {
        const now = Date.now();
        for (const row of rows) {
          if (keyOf(row) !== key) continue;
          const parsed = parseRow(row);
          if (parsed.ok && livenessOf(parsed.entry, now, this.staleAfterMs) === 'live') {
            throw new ServiceAlreadyRegistered(`${entry.dccType} instance ${entry.instanceId} is already registered`);
          }
        }
        // A stale, dead or malformed row under the same key is replaced.
        entry.registeredAt = entry.lastHeartbeat = now;
        return { result: entry, rows: [...rows.filter((row) => keyOf(row) !== key), rowOf(entry)] };
      });
    });
  }

  deregister(dccType: string, instanceId: string): Promise<boolean> {
    return this.op(() =>
      this.change((rows) => {
        const key = rowKey(dccType, instanceId);
        const kept = rows.filter((row) => keyOf(row) !== key);
        return kept.length === rows.length ? { result: false } : { result: true, rows: kept };
      }),
    );
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
    return this.op(() =>
      this.change((rows) => {
        const now = Date.now();
        const kept = rows.filter((row) => {
          const parsed = parseRow(row);
          return !parsed.ok || livenessOf(parsed.entry, now, this.staleAfterMs) === 'live';
        });
        const removed = rows.length - kept.length;
        return removed === 0 ? { result: 0 } : { result: removed, rows: kept };
      }),
    );
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
      return (await this.entries()).map((entry) => ({ entry, liveness: livenessOf(entry, now, this.staleAfterMs) }));
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
    const run = this.ensureDir().then(fn);
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
    return withFileLock(this.file, this.lockPath, this.lockOptions, async ({ holderDied }) => {
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

/** Validates register()'s arguments and builds the row (timestamps are set under the lock). */
function newEntry(dccType: string, endpoint: Endpoint, options: RegisterOptions): ServiceEntry {
  if (typeof dccType !== 'string' || dccType.trim() === '') throw new InvalidOption('dccType must be a non-empty string');
  const instanceId = options.instanceId ?? randomUUID();
  if (typeof instanceId !== 'string' || instanceId.trim() === '') throw new InvalidOption('instanceId must be a non-empty string');
  const status = options.status ?? 'available';
  if (!SERVICE_STATUSES.includes(status)) throw new InvalidOption(`unknown service status ${JSON.stringify(status)}`);
  const pid = options.pid ?? process.pid;
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new InvalidOption(`pid must be a positive integer, got ${pid}`);
  const version = options.version ?? null;
  const scene = options.scene ?? null;
  if (version !== null && typeof version !== 'string') throw new InvalidOption('version must be a string or null');
  if (scene !== null && typeof scene !== 'string') throw new InvalidOption('scene must be a string or null');

  const { host, port, transportAddress } = addressOf(validateEndpoint(endpoint));
  const entry: ServiceEntry = {
    dccType,
    instanceId,
    host,
    port,
    transportAddress,
    version,
    scene,
    pid,
    metadata: jsonObject('metadata', options.metadata ?? {}),
    registeredAt: 0,
    lastHeartbeat: 0,
    status,
    schemaVersion: SCHEMA_VERSION,
  };
  const extra = unknownFields(jsonObject('extra', options.extra ?? {}));
  if (Object.keys(extra).length > 0) entry.extra = extra;
  return entry;
}

/** A JSON-safe copy (the caller's object may change later); SerializationError if it cannot be JSON. */
function jsonObject(what: string, value: Record<string, unknown>): Record<string, unknown> {
  let copy: unknown;
  try {
    copy = JSON.parse(JSON.stringify(value));
  } catch (err) {
    throw new SerializationError(`${what} cannot be written as JSON: ${errorMessage(err)}`, { cause: err });
  }
  if (typeof copy !== 'object' || copy === null || Array.isArray(copy)) {
    throw new SerializationError(`${what} must be a JSON object`);
  }
  return copy as Record<string, unknown>;
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
