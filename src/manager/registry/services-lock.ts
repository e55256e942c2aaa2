/**
 * dcc-mcp-core's registry lock: an exclusive lock (flock on Unix, LockFileEx on byte 0
 * on Windows, see native-lock.ts) on the regular file `<dir>/services.lock`, held around
 * every read-modify-write of services.json. Waiting is a non-blocking try-lock polled
 * the way dcc-mcp-core's Rust FileRegistry polls it: every DCC_MCP_REGISTRY_LOCK_BACKOFF_MS
 * (10 ms) until DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS (2 s), then RegistryFileError. Never a
 * blocking lock: it would hold a libuv thread and could not time out.
 *
 * No staleness rule is needed: the OS drops the lock of a process that dies.
 */
import fsp, { type FileHandle } from 'node:fs/promises';
import { RegistryFileError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';
import type { NativeLock } from './native-lock.js';

export const SERVICES_LOCK_FILE = 'services.lock';

export const DEFAULT_LOCK_BACKOFF_MS = 10;
export const DEFAULT_SERVICES_LOCK_TIMEOUT_MS = 2_000;
export const BACKOFF_ENV = 'DCC_MCP_REGISTRY_LOCK_BACKOFF_MS';
export const TIMEOUT_ENV = 'DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS';

export interface ServicesLockOptions {
  lock: NativeLock;
  /** `<dir>/services.lock`. */
  path: string;
  timeoutMs: number;
  backoffMs: number;
}

/** dcc-mcp-core's timing from its variables (a missing or unusable value keeps the default). */
export function lockTimingFromEnv(env: NodeJS.ProcessEnv = process.env): { timeoutMs: number; backoffMs: number } {
  return {
    timeoutMs: positiveInt(env[TIMEOUT_ENV]) ?? DEFAULT_SERVICES_LOCK_TIMEOUT_MS,
    backoffMs: positiveInt(env[BACKOFF_ENV]) ?? DEFAULT_LOCK_BACKOFF_MS,
  };
}

function positiveInt(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** Takes the lock, polling; resolves with its release. */
export async function takeServicesLock(options: ServicesLockOptions): Promise<() => Promise<void>> {
  let handle: FileHandle;
  try {
    // 'a+' like dcc-mcp-core's Python helper: created if missing, never truncated.
    handle = await fsp.open(options.path, 'a+', 0o644);
  } catch (err) {
    throw new RegistryFileError(`cannot open the registry lock ${options.path}: ${errorMessage(err)}`, { cause: err });
  }
  const deadline = Date.now() + options.timeoutMs;
  try {
    for (;;) {
      if (options.lock.tryLock(handle.fd)) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new RegistryFileError(
          `timed out after ${options.timeoutMs} ms waiting for the registry lock ${options.path} (held by another process)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, options.backoffMs)));
    }
  } catch (err) {
    await handle.close().catch(() => undefined);
    if (err instanceof RegistryFileError) throw err;
    throw new RegistryFileError(`cannot take the registry lock ${options.path}: ${errorMessage(err)}`, { cause: err });
  }
  return async () => {
    try {
      options.lock.unlock(handle.fd);
    } finally {
      await handle.close(); // releases it in any case
    }
  };
}
