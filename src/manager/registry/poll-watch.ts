/**
 * watch() for a registry that has no change feed of its own (the file registry): a
 * snapshot, then the differences between successive listings, read every `intervalMs`
 * and as soon as the registry file changes (fs.watch on its directory, where the
 * registry has a file: services.json is replaced by rename, so the directory is what
 * sees it). A row that left the listing is `down` when it is gone from the registry,
 * `expire` when it is still there but stale or dead. Revisions count the changes this
 * watch saw.
 */
import { watch as fsWatch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../util/error-message.js';
import type { RegistryEvent, ServiceEntry, ServiceRegistry } from './types.js';

export interface PollWatchOptions {
  signal: AbortSignal;
  intervalMs: number;
  onWarning?: (message: string) => void;
}

export async function* pollWatch(registry: ServiceRegistry, dccType: string | undefined, options: PollWatchOptions): AsyncGenerator<RegistryEvent> {
  const { signal } = options;
  let wake: (() => void) | undefined;
  /** A change was seen since the last listing (it may come while nobody waits). */
  let dirty = false;
  const poke = (): void => {
    dirty = true;
    wake?.();
  };
  let watcher: FSWatcher | undefined;
  const file = (registry as { file?: unknown }).file;
  if (typeof file === 'string') {
    try {
      watcher = fsWatch(path.dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === path.basename(file)) poke();
      });
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined; // polling alone still works
    }
  }
  signal.addEventListener('abort', poke);
  try {
    const list = (): Promise<ServiceEntry[]> => (dccType === undefined ? registry.listAll() : registry.listInstances(dccType));
    let revision = 0;
    let known = byKey(await list());
    yield { type: 'snapshot', revision, entries: [...known.values()], resync: false };
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        if (dirty) return resolve();
        const timer = setTimeout(resolve, options.intervalMs);
        wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      dirty = false;
      if (signal.aborted) return;
      let next: Map<string, ServiceEntry>;
      try {
        next = byKey(await list());
      } catch (err) {
        options.onWarning?.(`registry watch: ${errorMessage(err)}`);
        continue;
      }
      for (const [k, entry] of known) {
        if (next.has(k)) continue;
        const still = await registry.get(entry.dccType, entry.instanceId).catch(() => undefined);
        yield { type: still === undefined ? 'down' : 'expire', revision: ++revision, dccType: entry.dccType, instanceId: entry.instanceId, entry };
      }
      for (const [k, entry] of next) {
        const before = known.get(k);
        if (before === undefined || before.registeredAt !== entry.registeredAt) yield { type: 'up', revision: ++revision, entry };
        else if (before.status !== entry.status) yield { type: 'status', revision: ++revision, entry };
      }
      known = next;
    }
  } finally {
    signal.removeEventListener('abort', poke);
    watcher?.close();
  }
}

function byKey(entries: ServiceEntry[]): Map<string, ServiceEntry> {
  return new Map(entries.map((e) => [`${e.dccType}\u0000${e.instanceId}`, e]));
}
