/**
 * One services.json row <-> ServiceEntry. Rows are read leniently (absent optional
 * fields get dcc-mcp-core's defaults) but typed strictly (a field of the wrong type
 * makes the row malformed). Rows we did not create are never re-serialized: they are
 * kept as raw JSON and only the fields we change are patched in, so everything a newer
 * or foreign writer put there survives a rewrite exactly.
 */
import { SERVICE_STATUSES, type ServiceEntry, type ServiceStatus, type TransportAddress } from './types.js';
import { fromWireTimestamp, toWireTimestamp } from './timestamp.js';
import { IPC_HOST, IPC_PORT } from './address.js';

/** A row as it is on disk. */
export type RawRow = Record<string, unknown>;

/** The schema version of the rows this code writes; files with newer rows are read-only. */
export const SCHEMA_VERSION = 1;

/** Field order of the rows we write: the order dcc-mcp-core writes them. */
const KNOWN_FIELDS = [
  'schema_version',
  'dcc_type',
  'instance_id',
  'host',
  'port',
  'transport_address',
  'version',
  'scene',
  'pid',
  'sentinel_path',
  'metadata',
  'registered_at',
  'last_heartbeat',
  'status',
] as const;
const KNOWN = new Set<string>(KNOWN_FIELDS);

export type ParsedRow =
  | { ok: true; entry: ServiceEntry; /** Something odd but usable, e.g. an unknown status. */ warning?: string }
  | { ok: false; problem: string };

/** Keeps only the fields this version does not know (what `extra` may hold). */
export function unknownFields(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([key]) => !KNOWN.has(key)));
}

export function isRawRow(value: unknown): value is RawRow {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseRow(raw: unknown): ParsedRow {
  if (!isRawRow(raw)) return { ok: false, problem: 'row is not a JSON object' };
  const fail = (problem: string): ParsedRow => ({ ok: false, problem });

  const schemaVersion = raw['schema_version'] ?? 0;
  if (!isNonNegativeInt(schemaVersion)) return fail('schema_version is not a non-negative integer');
  const dccType = raw['dcc_type'];
  if (typeof dccType !== 'string' || dccType === '') return fail('dcc_type is missing or not a non-empty string');
  const instanceId = raw['instance_id'];
  if (typeof instanceId !== 'string' || instanceId === '') return fail('instance_id is missing or not a non-empty string');

  let transportAddress: TransportAddress | undefined;
  if (raw['transport_address'] !== undefined && raw['transport_address'] !== null) {
    const parsed = parseTransportAddress(raw['transport_address']);
    if (typeof parsed === 'string') return fail(parsed);
    transportAddress = parsed;
  }
  // host/port may be left out when transport_address says it all.
  const host = raw['host'] ?? (transportAddress?.type === 'tcp' ? transportAddress.host : transportAddress && IPC_HOST);
  if (typeof host !== 'string') return fail('host is missing or not a string');
  const port = raw['port'] ?? (transportAddress?.type === 'tcp' ? transportAddress.port : transportAddress && IPC_PORT);
  if (!isPort(port)) return fail('port is missing or not an integer in 0-65535');

  const tls = wirecallTls(raw['extras']);
  if (tls === undefined) return fail('extras.wirecall.tls is not a boolean');

  const version = raw['version'] ?? null;
  if (version !== null && typeof version !== 'string') return fail('version is not a string or null');
  const scene = raw['scene'] ?? null;
  if (scene !== null && typeof scene !== 'string') return fail('scene is not a string or null');
  const pid = raw['pid'] ?? undefined;
  if (pid !== undefined && !(isNonNegativeInt(pid) && pid > 0)) return fail('pid is not a positive integer');
  const sentinelPath = raw['sentinel_path'] ?? undefined;
  if (sentinelPath !== undefined && typeof sentinelPath !== 'string') return fail('sentinel_path is not a string or null');
  const metadata = raw['metadata'] ?? {};
  if (!isRawRow(metadata)) return fail('metadata is not a JSON object');

  const lastHeartbeatRaw = raw['last_heartbeat'] ?? raw['registered_at'];
  const registeredAtRaw = raw['registered_at'] ?? raw['last_heartbeat'];
  if (lastHeartbeatRaw === undefined || lastHeartbeatRaw === null) return fail('last_heartbeat and registered_at are both missing');
  const lastHeartbeat = fromWireTimestamp(lastHeartbeatRaw);
  if (lastHeartbeat === undefined) return fail('last_heartbeat is not a timestamp');
  const registeredAt = fromWireTimestamp(registeredAtRaw);
  if (registeredAt === undefined) return fail('registered_at is not a timestamp');

  const statusRaw = raw['status'] ?? 'available';
  if (typeof statusRaw !== 'string') return fail('status is not a string');
  // An unknown status (from a newer writer) keeps the row visible but never routed to.
  const known = (SERVICE_STATUSES as readonly string[]).includes(statusRaw);
  const status: ServiceStatus = known ? (statusRaw as ServiceStatus) : 'unreachable';

  const entry: ServiceEntry = {
    dccType,
    instanceId,
    host,
    port,
    version,
    scene,
    metadata,
    registeredAt,
    lastHeartbeat,
    status,
    schemaVersion,
  };
  if (transportAddress !== undefined) entry.transportAddress = transportAddress;
  if (tls && transportAddress?.type !== 'unix_socket' && transportAddress?.type !== 'named_pipe') entry.tls = true;
  if (pid !== undefined) entry.pid = pid;
  if (sentinelPath !== undefined && sentinelPath !== '') entry.sentinelPath = sentinelPath;
  const extra = extraFields(raw);
  if (extra !== undefined) entry.extra = extra;
  return known ? { ok: true, entry } : { ok: true, entry, warning: `unknown status ${JSON.stringify(statusRaw)}, treated as unreachable` };
}

/** The row for an entry we create, in dcc-mcp-core's field order, extra fields last. */
export function rowOf(entry: ServiceEntry): RawRow {
  const row: RawRow = {
    schema_version: entry.schemaVersion,
    dcc_type: entry.dccType,
    instance_id: entry.instanceId,
    host: entry.host,
    port: entry.port,
  };
  if (entry.transportAddress !== undefined) row['transport_address'] = { ...entry.transportAddress };
  row['version'] = entry.version;
  row['scene'] = entry.scene;
  if (entry.pid !== undefined) row['pid'] = entry.pid;
  if (entry.sentinelPath !== undefined) row['sentinel_path'] = entry.sentinelPath;
  row['metadata'] = entry.metadata;
  const extras = extrasOf(entry);
  if (extras !== undefined) row['extras'] = extras;
  row['registered_at'] = toWireTimestamp(entry.registeredAt);
  row['last_heartbeat'] = toWireTimestamp(entry.lastHeartbeat);
  row['status'] = entry.status;
  const { extras: _placed, ...others } = unknownFields(entry.extra ?? {});
  Object.assign(row, others);
  return row;
}

/**
 * Where a row says its instance serves TLS: `"extras": {"wirecall": {"tls": true}}`.
 * `extras` is dcc-mcp-core's field for any JSON about an instance, which its rewrites
 * keep (an unknown top-level field they drop); `wirecall` keeps ours apart from what
 * anyone else puts there. False when absent; undefined when not a boolean.
 */
function wirecallTls(extras: unknown): boolean | undefined {
  if (!isRawRow(extras) || !isRawRow(extras['wirecall'])) return false;
  const tls = extras['wirecall']['tls'] ?? false;
  return typeof tls === 'boolean' ? tls : undefined;
}

/** The row's `extras`: what the entry carries there, with `wirecall.tls` set for a TLS entry. */
function extrasOf(entry: ServiceEntry): unknown {
  const given = entry.extra?.['extras'];
  if (entry.tls !== true) return given;
  const extras = isRawRow(given) ? given : {};
  const ours = isRawRow(extras['wirecall']) ? extras['wirecall'] : {};
  return { ...extras, wirecall: { ...ours, tls: true } };
}

export function patchHeartbeat(row: RawRow, ms: number): void {
  row['last_heartbeat'] = toWireTimestamp(ms);
}

export function patchStatus(row: RawRow, status: ServiceStatus): void {
  row['status'] = status;
}

/** The schema version a raw row declares (0 when missing or unreadable). */
export function schemaVersionOf(row: unknown): number {
  const v = isRawRow(row) ? row['schema_version'] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** The (dcc_type, instance_id) key of a raw row, if it has one. */
export function keyOf(row: unknown): string | undefined {
  if (!isRawRow(row)) return undefined;
  const { dcc_type: dccType, instance_id: instanceId } = row;
  return typeof dccType === 'string' && typeof instanceId === 'string' ? rowKey(dccType, instanceId) : undefined;
}

export function rowKey(dccType: string, instanceId: string): string {
  return JSON.stringify([dccType, instanceId]);
}

function parseTransportAddress(value: unknown): TransportAddress | string {
  if (!isRawRow(value)) return 'transport_address is not a JSON object';
  switch (value['type']) {
    case 'tcp': {
      const { host, port } = value;
      if (typeof host !== 'string' || host === '' || !isPort(port)) return 'transport_address tcp needs a host and a port';
      return { type: 'tcp', host, port };
    }
    case 'unix_socket':
    case 'named_pipe': {
      const { path } = value;
      if (typeof path !== 'string' || path === '') return `transport_address ${value['type']} needs a path`;
      return { type: value['type'], path };
    }
    default:
      return `unknown transport_address type ${JSON.stringify(value['type'])}`;
  }
}

function extraFields(raw: RawRow): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(raw)) {
    if (KNOWN.has(key)) continue;
    (extra ??= {})[key] = value;
  }
  return extra;
}

function isNonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isPort(v: unknown): v is number {
  return isNonNegativeInt(v) && v <= 65535;
}
