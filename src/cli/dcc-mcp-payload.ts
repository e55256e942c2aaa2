/**
 * The CLI's side of dcc-mcp-core's wires. The envelope (`--dialect dcc-mcp`) carries
 * bytes, and what its users put there is mostly UTF-8 JSON: the JSON given on the command
 * line is sent as UTF-8 JSON bytes. Replies of both the envelope and DCC-Link
 * (`--dialect dcc-link`, whose calls carry `{"method", "params"}` as JSON already) are
 * bytes: printed as JSON when they are UTF-8 JSON, else as hex.
 */
import type { DialectName } from '../index.js';
import { toJsonLine } from './common.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What to send as params (or notification data) for `params` parsed from the command line. */
export function paramsFor(dialect: DialectName | undefined, params: unknown): unknown {
  if (dialect !== 'dcc-mcp') return params;
  return params === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(params), 'utf8');
}

/** The line printed for a call's result. */
export function resultLine(dialect: DialectName | undefined, result: unknown): string {
  if (dialect === undefined || dialect === 'wirecall' || !(result instanceof Uint8Array)) return toJsonLine(result);
  if (result.length === 0) return 'null';
  try {
    return toJsonLine(JSON.parse(utf8.decode(result)));
  } catch {
    return Buffer.from(result.buffer, result.byteOffset, result.byteLength).toString('hex');
  }
}
