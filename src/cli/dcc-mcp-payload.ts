/**
 * The CLI's side of dcc-mcp-core's envelope (`--dialect dcc-mcp`): its params and
 * payloads are bytes, and what its users put there is mostly UTF-8 JSON. So the JSON
 * given on the command line is sent as UTF-8 JSON bytes, and a reply is printed as JSON
 * when its bytes are UTF-8 JSON, else as hex.
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
  if (dialect !== 'dcc-mcp' || !(result instanceof Uint8Array)) return toJsonLine(result);
  if (result.length === 0) return 'null';
  try {
    return toJsonLine(JSON.parse(utf8.decode(result)));
  } catch {
    return Buffer.from(result.buffer, result.byteOffset, result.byteLength).toString('hex');
  }
}
