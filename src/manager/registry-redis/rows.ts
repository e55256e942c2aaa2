/**
 * Redis hash <-> ServiceEntry. The hash's `row` is the services.json row (row-codec.ts,
 * dcc-mcp-core's field names), written once at registration and never rewritten; the
 * fields that change (status, heartbeat) live beside it in the hash, set by the scripts
 * with the server's clock, and are laid over the row when read. So a Redis row and a
 * services.json row have the same fields, and `wirecall services` shows both alike.
 */
import { parseRow, rowOf } from '../registry/row-codec.js';
import { SERVICE_STATUSES, type ServiceEntry, type ServiceStatus } from '../registry/types.js';
import type { RedisReply } from './client.js';

/** A consistent read: the live rows and the revision they are current at. */
export interface RedisSnapshot {
  revision: number;
  /** The server's clock (ms) when it was read. */
  now: number;
  entries: ServiceEntry[];
  /** Changes when the server lost the registry's data (the revision counter started again). */
  epoch: string;
}

/** The JSON stored in the hash's `row` field for a new entry. */
export function storedRow(entry: ServiceEntry): string {
  return JSON.stringify(rowOf(entry));
}

/** An entry from the hash fields (row JSON, status, reg, hb); undefined when the row is unreadable. */
export function entryOf(row: RedisReply, status: RedisReply, registeredAt: RedisReply, heartbeat: RedisReply): ServiceEntry | undefined {
  if (typeof row !== 'string') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(row);
  } catch {
    return undefined;
  }
  const parsed = parseRow(raw);
  if (!parsed.ok) return undefined;
  const entry = parsed.entry;
  if (typeof status === 'string') {
    entry.status = (SERVICE_STATUSES as readonly string[]).includes(status) ? (status as ServiceStatus) : 'unreachable';
  }
  const reg = Number(registeredAt);
  const hb = Number(heartbeat);
  if (Number.isFinite(reg) && reg > 0) entry.registeredAt = reg;
  if (Number.isFinite(hb) && hb > 0) entry.lastHeartbeat = hb;
  return entry;
}

/** A stream entry's or an HGETALL's flat [field, value, …] list as a map. */
export function fieldMap(flat: RedisReply): Map<string, RedisReply> {
  const out = new Map<string, RedisReply>();
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), flat[i + 1]!);
  return out;
}

/** The entry carried by a stream entry's (or hash's) fields. */
export function entryOfFields(fields: Map<string, RedisReply>): ServiceEntry | undefined {
  return entryOf(fields.get('row') ?? null, fields.get('status') ?? null, fields.get('reg') ?? null, fields.get('hb') ?? null);
}
