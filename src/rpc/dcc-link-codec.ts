/**
 * What goes in the bodies of DCC-Link frames at the rpc level (docs/DCC-LINK.md, "The
 * rpc dialect"). DCC-Link has no method field, so a Call (and a Push) carries the method
 * in its body: UTF-8 JSON `{"method": …, "params": …}` by default (what dcc-mcp-core's
 * docs put there), or MessagePack `[method, params]`. A Reply body is the result alone,
 * read as bytes unless `results` says how to decode it; an Err body is UTF-8 text.
 */
import { InvalidArgument, InvalidOption } from '../errors.js';
import { dccLinkSocketPath, decodeDccLinkBody, encodeDccLinkBody } from '../wire/dcc-link.js';
import { decodePayload, encodePayload, type PayloadCodec } from './dcc-mcp-codec.js';

/** How the method and params share a Call or Push body. */
export type DccLinkBodyCodec = 'json' | 'msgpack';

/** A Progress frame for a call of ours. */
export interface DccLinkProgress {
  /** The method of the call it is for. */
  readonly method: string;
  /** The seq of that call (the Call's and the Progress frame's). */
  readonly seq: number;
  /** The body as the peer sent it (the package's scripts put JSON there). */
  readonly body: Buffer;
}

export interface DccLinkOptions {
  /**
   * Call and Push bodies, both ways: `'json'` (`{"method": m, "params": p}`, UTF-8; the
   * default) or `'msgpack'` (`[m, p]`). Our handlers' results go out in it too (a
   * Buffer or Uint8Array result as its bytes, unchanged; `undefined` as an empty body).
   */
  codec?: DccLinkBodyCodec;
  /**
   * How the peer's Reply bodies become the results `call()` resolves with: `'bytes'` (a
   * Buffer; the default, since a peer's application code may put anything there),
   * `'json'` (empty is null) or `'msgpack'`. A body that does not decode fails the call.
   */
  results?: PayloadCodec;
  /**
   * Called with each Progress frame for a call of ours still waiting (others are
   * dropped). What it throws goes to the connection's `handlerError` event.
   */
  onProgress?: (progress: DccLinkProgress) => void;
  /**
   * Send the heartbeat's Pings (and cut a peer silent for 3 intervals). Off by default:
   * dcc-mcp-core answers no Ping unless its application code does.
   */
  heartbeat?: boolean;
}

export interface ResolvedDccLinkOptions {
  readonly codec: DccLinkBodyCodec;
  readonly results: PayloadCodec;
  readonly onProgress: ((progress: DccLinkProgress) => void) | undefined;
  readonly heartbeat: boolean;
}

export function resolveDccLinkOptions(options: DccLinkOptions | undefined): ResolvedDccLinkOptions {
  const codec = options?.codec ?? 'json';
  if (codec !== 'json' && codec !== 'msgpack') throw new InvalidOption(`dccLink.codec must be 'json' or 'msgpack', got ${JSON.stringify(codec)}`);
  const results = options?.results ?? 'bytes';
  if (results !== 'bytes' && results !== 'json' && results !== 'msgpack') {
    throw new InvalidOption(`dccLink.results must be 'bytes', 'json' or 'msgpack', got ${JSON.stringify(results)}`);
  }
  const onProgress = options?.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new InvalidOption('dccLink.onProgress must be a function');
  return { codec, results, onProgress, heartbeat: options?.heartbeat === true };
}

const EMPTY = Buffer.alloc(0);

/** The body of a Call or Push of `method`; throws InvalidArgument when `params` has no form in `codec`. */
export function encodeMethodBody(codec: DccLinkBodyCodec, method: string, params: unknown): Buffer {
  if (codec === 'msgpack') return encodeDccLinkBody(params === undefined ? [method] : [method, params]);
  if (params instanceof Uint8Array) throw new InvalidArgument("bytes have no JSON form (use dccLink.codec 'msgpack')");
  return Buffer.from(JSON.stringify(params === undefined ? { method } : { method, params }), 'utf8');
}

/** The method and params in a Call or Push body; a string saying what is wrong when they are not there. */
export function decodeMethodBody(codec: DccLinkBodyCodec, body: Buffer): { method: string; params: unknown } | string {
  let value: unknown;
  try {
    value = codec === 'json' ? decodePayload('json', body) : decodeDccLinkBody({ type: 'call', body });
  } catch (err) {
    return (err as Error).message;
  }
  if (codec === 'json') {
    const o = value as { method?: unknown; params?: unknown } | null;
    if (typeof o === 'object' && o !== null && !Array.isArray(o) && typeof o.method === 'string') return { method: o.method, params: o.params };
    return 'not a JSON object with a string "method"';
  }
  if (Array.isArray(value) && (value.length === 1 || value.length === 2) && typeof value[0] === 'string') return { method: value[0], params: value[1] };
  return 'not a MessagePack array [method, params]';
}

/** A result of ours as a Reply body. */
export function encodeResultBody(codec: DccLinkBodyCodec, value: unknown): Buffer {
  return value === undefined ? EMPTY : encodePayload(codec, value);
}

/** A Reply body as the result `call()` resolves with; throws InvalidArgument saying why it is not one. */
export function decodeResultBody(codec: PayloadCodec, body: Buffer): unknown {
  return decodePayload(codec, body);
}

/**
 * The endpoint of a DCC-Link channel by the name its DCC side gave
 * `IpcChannelAdapter.create(name)`: `unix:/tmp/<name>.sock` (`unix:<name>` when absolute).
 * `connect(dccLinkEndpoint(name), { dialect: 'dcc-link' })` dials it.
 */
export function dccLinkEndpoint(name: string): string {
  return `unix:${dccLinkSocketPath(name)}`;
}
