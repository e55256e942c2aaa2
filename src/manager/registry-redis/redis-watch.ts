/**
 * RedisRegistry.watch(): a consistent snapshot (the list script: live rows plus the
 * revision they are current at), then the event stream read from that revision on, in
 * order, on a connection of its own (XREAD BLOCK would stall the shared one).
 *
 * Stream entry ids are `<revision>-0`, so a gap is visible: when the next entry read is
 * not revision + 1, the stream was trimmed past what the watch had read (MAXLEN ~), and
 * the watch starts over from a new snapshot (`resync: true`). The same happens when the
 * server's revision went backwards (it restarted without its data) and after a lost
 * connection. Between reads (every `blockMs` at most) the watch runs the prune script, so
 * expired leases become `expire` events without any other client running a cleanup.
 */
import { errorMessage } from '../../util/error-message.js';
import type { RegistryEvent, ServiceEntry } from '../registry/types.js';
import type { Commander, RedisReply } from './client.js';
import { entryOfFields, fieldMap, type RedisSnapshot } from './rows.js';
import { epochKey, eventsKey, revKey } from './scripts.js';

export interface RedisWatchParts {
  /** A connection of the watch's own. */
  connect(): Promise<Commander>;
  snapshot(redis: Commander): Promise<RedisSnapshot>;
  prune(redis: Commander): Promise<unknown>;
  prefix: string;
  dccType: string | undefined;
  /** Longest wait on the stream before pruning (and checking the revision) again. */
  blockMs: number;
  signal: AbortSignal;
  warn(message: string): void;
  /** Called once when the watch ends. */
  done(): void;
}

/** Entries read per XREAD. */
const BATCH = 1000;

export async function* watchRedis(parts: RedisWatchParts): AsyncGenerator<RegistryEvent> {
  const { signal, dccType } = parts;
  let redis: Commander | undefined;
  const unblock = (): void => redis?.destroy(); // rejects a pending XREAD BLOCK
  signal.addEventListener('abort', unblock, { once: true });
  const stream = eventsKey(parts.prefix);
  try {
    let resync = false;
    while (!signal.aborted) {
      try {
        redis ??= await parts.connect();
        if (signal.aborted) return;
        const snap = await parts.snapshot(redis);
        const known = new Map<string, ServiceEntry>(snap.entries.map((e) => [key(e.dccType, e.instanceId), e]));
        yield { type: 'snapshot', revision: snap.revision, entries: snap.entries, resync };
        resync = true;
        let last = snap.revision;
        let epoch = snap.epoch;
        let pruned = Date.now();
        follow: while (!signal.aborted) {
          if (Date.now() - pruned >= parts.blockMs) {
            pruned = Date.now();
            await parts.prune(redis);
            const [revision, now] = (await redis.send(['MGET', revKey(parts.prefix), epochKey(parts.prefix)], true)) as RedisReply[];
            // The server lost its data (restarted empty, flushed): the counter started again.
            if (Number(revision ?? 0) < last || (epoch !== '' && String(now ?? '') !== epoch)) break follow;
            epoch = String(now ?? ''); // the first change after an empty snapshot starts the epoch
          }
          const reply = await redis.send(['XREAD', 'COUNT', BATCH, 'BLOCK', Math.ceil(parts.blockMs), 'STREAMS', stream, `${last}-0`], true);
          for (const [id, fields] of streamEntries(reply)) {
            const revision = Number.parseInt(id, 10);
            if (revision !== last + 1) break follow; // trimmed past us: resynchronise
            last = revision;
            const event = eventOf(revision, fieldMap(fields), known, dccType);
            if (event !== undefined) yield event;
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        parts.warn(`Redis registry watch: ${errorMessage(err)}; resynchronising`);
        redis?.destroy();
        redis = undefined;
        await sleep(Math.min(parts.blockMs, 500), signal);
      }
    }
  } finally {
    signal.removeEventListener('abort', unblock);
    redis?.destroy();
    parts.done();
  }
}

/** One stream entry as an event for this watch (undefined: another DCC type, or unreadable). */
function eventOf(revision: number, fields: Map<string, RedisReply>, known: Map<string, ServiceEntry>, only: string | undefined): RegistryEvent | undefined {
  const type = String(fields.get('type'));
  const dcc = String(fields.get('dcc'));
  const id = String(fields.get('id'));
  if (only !== undefined && dcc !== only) return undefined;
  const k = key(dcc, id);
  if (type === 'up' || type === 'status') {
    const entry = entryOfFields(fields);
    if (entry === undefined) return undefined;
    known.set(k, entry);
    return { type, revision, entry };
  }
  if (type === 'down' || type === 'expire') {
    const entry = known.get(k);
    known.delete(k);
    return entry === undefined ? { type, revision, dccType: dcc, instanceId: id } : { type, revision, dccType: dcc, instanceId: id, entry };
  }
  return undefined;
}

/** XREAD's reply (RESP2 arrays or RESP3 maps) as [id, fields] pairs; none when it timed out. */
function streamEntries(reply: unknown): Array<[string, RedisReply]> {
  if (reply === null || reply === undefined) return [];
  const streams: unknown[] = Array.isArray(reply)
    ? reply
    : reply instanceof Map
      ? [...reply.entries()]
      : Object.entries(reply as Record<string, unknown>);
  const out: Array<[string, RedisReply]> = [];
  for (const s of streams) {
    const entries = Array.isArray(s) ? s[1] : undefined;
    if (!Array.isArray(entries)) continue;
    for (const e of entries) {
      if (Array.isArray(e)) out.push([String(e[0]), e[1] as RedisReply]);
      else if (typeof e === 'object' && e !== null && 'id' in e) {
        const { id, message } = e as { id: string; message: Record<string, string> };
        out.push([id, Object.entries(message).flat()]);
      }
    }
  }
  return out;
}

function key(dccType: string, instanceId: string): string {
  return `${dccType}\u0000${instanceId}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
