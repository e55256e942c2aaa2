/**
 * What goes in the byte fields of a dcc-mcp-core envelope (params, payload, data). The
 * envelope carries opaque bytes; its users put UTF-8 JSON or MessagePack there, or raw
 * bytes. A codec per method (else one for the connection) turns them into values for
 * handlers and back. A Buffer or Uint8Array is always sent as its bytes, unchanged,
 * whatever the codec, so callers may encode by themselves.
 */
import { InvalidArgument, InvalidOption } from '../errors.js';
import { packValue, unpackPayload } from '../wire/msgpack.js';

export type PayloadCodec = 'bytes' | 'json' | 'msgpack';

const CODECS: readonly PayloadCodec[] = ['bytes', 'json', 'msgpack'];

export interface DccMcpOptions {
  /**
   * How byte fields become values: `'bytes'` (a Buffer; the default), `'json'` (UTF-8
   * JSON; empty bytes are null) or `'msgpack'`. Applies to params, results and
   * notification data alike.
   */
  codec?: PayloadCodec;
  /** A codec for some methods (and notification topics) rather than `codec`. */
  methods?: Readonly<Record<string, PayloadCodec>>;
  /**
   * Calls of ours sent and not yet answered; more wait here, in order. dcc-mcp-core
   * 0.13.6 deadlocks for good when about 512 requests reach it unanswered. Default 128.
   */
  maxCallsInFlight?: number;
}

export interface ResolvedDccMcpOptions {
  readonly codec: PayloadCodec;
  readonly methods: ReadonlyMap<string, PayloadCodec>;
  readonly maxCallsInFlight: number;
}

export function resolveDccMcpOptions(options: DccMcpOptions | undefined): ResolvedDccMcpOptions {
  const codec = checkCodec(options?.codec ?? 'bytes', 'dccMcp.codec');
  const methods = new Map<string, PayloadCodec>();
  for (const [method, c] of Object.entries(options?.methods ?? {})) methods.set(method, checkCodec(c, `dccMcp.methods[${JSON.stringify(method)}]`));
  const maxCallsInFlight = options?.maxCallsInFlight ?? 128;
  if (!Number.isInteger(maxCallsInFlight) || maxCallsInFlight < 1) {
    throw new InvalidOption(`dccMcp.maxCallsInFlight must be an integer >= 1, got ${maxCallsInFlight}`);
  }
  return { codec, methods, maxCallsInFlight };
}

function checkCodec(codec: unknown, what: string): PayloadCodec {
  if (!CODECS.includes(codec as PayloadCodec)) throw new InvalidOption(`${what} must be one of ${CODECS.join(', ')}, got ${JSON.stringify(codec)}`);
  return codec as PayloadCodec;
}

const EMPTY = Buffer.alloc(0);

/** `value` as the bytes of a field; throws InvalidArgument when it cannot be. */
export function encodePayload(codec: PayloadCodec, value: unknown): Buffer {
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  switch (codec) {
    case 'bytes':
      if (value === undefined || value === null) return EMPTY;
      if (typeof value === 'string') return Buffer.from(value, 'utf8');
      throw new InvalidArgument(`with the 'bytes' codec only a Buffer, a Uint8Array or a string can be sent, got ${describe(value)} (choose the 'json' or 'msgpack' codec)`);
    case 'json': {
      if (value === undefined) return EMPTY;
      const text = JSON.stringify(value) as string | undefined;
      if (text === undefined) throw new InvalidArgument(`${describe(value)} has no JSON form`);
      return Buffer.from(text, 'utf8');
    }
    case 'msgpack':
      return packValue(value);
  }
}

/** The bytes of a field as a value; throws InvalidArgument saying why they are not one. */
export function decodePayload(codec: PayloadCodec, bytes: Buffer): unknown {
  switch (codec) {
    case 'bytes':
      return bytes;
    case 'json':
      if (bytes.length === 0) return null;
      try {
        return JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        throw new InvalidArgument(`not UTF-8 JSON (${(err as Error).message})`);
      }
    case 'msgpack':
      if (bytes.length === 0) return null;
      try {
        return unpackPayload(bytes);
      } catch (err) {
        throw new InvalidArgument(`not MessagePack (${(err as Error).message})`);
      }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
