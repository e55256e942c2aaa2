/** register()'s arguments checked and turned into a new row (file-registry.ts). */
import { randomUUID } from 'node:crypto';
import { InvalidOption, SerializationError } from '../../errors.js';
import { errorMessage } from '../../util/error-message.js';
import { validateEndpoint, type Endpoint } from '../../transport/endpoint.js';
import { addressOf } from './address.js';
import { SCHEMA_VERSION, unknownFields } from './row-codec.js';
import { SERVICE_STATUSES, type RegisterOptions, type ServiceEntry } from './types.js';

/** Validates register()'s arguments and builds the row (timestamps are set under the lock). */
export function newEntry(dccType: string, endpoint: Endpoint, options: RegisterOptions): ServiceEntry {
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

  const { host, port, transportAddress, tls } = addressOf(validateEndpoint(endpoint));
  const entry: ServiceEntry = {
    dccType,
    instanceId,
    host,
    port,
    transportAddress,
    ...(tls === true ? { tls } : {}),
    version,
    scene,
    pid,
    metadata: stringMap('metadata', options.metadata ?? {}),
    registeredAt: 0,
    lastHeartbeat: 0,
    status,
    schemaVersion: SCHEMA_VERSION,
  };
  const extra = unknownFields(jsonObject('extra', options.extra ?? {}));
  if (Object.keys(extra).length > 0) entry.extra = extra;
  return entry;
}

/**
 * metadata as dcc-mcp-core reads it, a map of strings: any other value would make it set
 * the whole services.json aside as corrupt, losing every row in it.
 */
function stringMap(what: string, value: Record<string, string>): Record<string, string> {
  const copy = jsonObject(what, value);
  for (const [key, v] of Object.entries(copy)) {
    if (typeof v !== 'string') {
      throw new InvalidOption(`${what}.${key} must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v} (dcc-mcp-core reads metadata as strings; put structured data in extra: { extras: { ... } })`);
    }
  }
  return copy as Record<string, string>;
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
