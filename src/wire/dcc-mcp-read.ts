/**
 * A direct reader for well-formed dcc-mcp envelopes, in one pass over the bytes. The
 * envelope's byte fields are arrays of integers, one MessagePack element per byte: the
 * general path (msgpackr, then a shape check) builds a JS array of numbers for them
 * first, about 8 bytes of heap per byte of params and several times slower than reading
 * them straight into a Buffer, which this does.
 *
 * It reads only the layout dcc-mcp-core writes (and `bin` byte fields). Anything else,
 * well-formed MessagePack in an unusual encoding or a malformed envelope, makes it return
 * undefined and the general path decides, with its precise error messages. The payload
 * must have been through the structure scanner (msgpack-guard.ts): lengths are trusted
 * to stay inside it.
 */
import { bytesToUuid, type DccMcpMessage, type EnvelopeId } from './dcc-mcp-messages.js';

/** Thrown inside the reader when the bytes are not the plain layout: caught at the top. */
const UNUSUAL: unique symbol = Symbol('unusual');

class Reader {
  constructor(
    private readonly src: Buffer,
    public at: number,
    private readonly end: number,
  ) {}

  private byte(): number {
    if (this.at >= this.end) throw UNUSUAL;
    return this.src[this.at++]!;
  }

  private take(n: number): number {
    const from = this.at;
    if (n > this.end - from) throw UNUSUAL;
    this.at = from + n;
    return from;
  }

  arrayLength(): number {
    const b = this.byte();
    if (b >= 0x90 && b <= 0x9f) return b & 0x0f;
    if (b === 0xdc) return this.src.readUInt16BE(this.take(2));
    if (b === 0xdd) return this.src.readUInt32BE(this.take(4));
    throw UNUSUAL;
  }

  str(): string {
    const b = this.byte();
    let n: number;
    if (b >= 0xa0 && b <= 0xbf) n = b & 0x1f;
    else if (b === 0xd9) n = this.src[this.take(1)]!;
    else if (b === 0xda) n = this.src.readUInt16BE(this.take(2));
    else if (b === 0xdb) n = this.src.readUInt32BE(this.take(4));
    else throw UNUSUAL;
    const from = this.take(n);
    return this.src.toString('utf8', from, from + n);
  }

  nilOr<T>(read: () => T): T | null {
    if (this.at < this.end && this.src[this.at] === 0xc0) {
      this.at++;
      return null;
    }
    return read();
  }

  id(): EnvelopeId {
    if (this.byte() !== 0xc4 || this.byte() !== 16) throw UNUSUAL;
    const from = this.take(16);
    return bytesToUuid(this.src.subarray(from, from + 16));
  }

  bool(): boolean {
    const b = this.byte();
    if (b === 0xc2) return false;
    if (b === 0xc3) return true;
    throw UNUSUAL;
  }

  /** A non-negative integer below 2^53 in any unsigned encoding. */
  uint(): number {
    const b = this.byte();
    if (b <= 0x7f) return b;
    const src = this.src;
    if (b === 0xcc) return src[this.take(1)]!;
    if (b === 0xcd) return src.readUInt16BE(this.take(2));
    if (b === 0xce) return src.readUInt32BE(this.take(4));
    if (b === 0xcf) {
      const at = this.take(8);
      const high = src.readUInt32BE(at);
      if (high >= 0x200000) throw UNUSUAL;
      return high * 0x1_0000_0000 + src.readUInt32BE(at + 4);
    }
    throw UNUSUAL;
  }

  /** A byte field: an array of integers 0-255 (each `00`-`7f` or `cc xx`), or `bin`. Always a copy. */
  bytes(): Buffer {
    const src = this.src;
    const head = src[this.at];
    if (head === 0xc4 || head === 0xc5 || head === 0xc6) {
      this.at++;
      const n = head === 0xc4 ? src[this.take(1)]! : head === 0xc5 ? src.readUInt16BE(this.take(2)) : src.readUInt32BE(this.take(4));
      const from = this.take(n);
      return Buffer.from(src.subarray(from, from + n));
    }
    const n = this.arrayLength();
    // Each element takes one or two bytes: fewer than n left means a malformed field.
    if (n > this.end - this.at) throw UNUSUAL;
    const out = Buffer.allocUnsafe(n);
    let at = this.at;
    const end = this.end;
    for (let i = 0; i < n; i++) {
      const b = src[at++]!;
      if (b <= 0x7f) out[i] = b;
      else if (b === 0xcc && at < end) out[i] = src[at++]!;
      else throw UNUSUAL;
    }
    if (at > end) throw UNUSUAL;
    this.at = at;
    return out;
  }
}

/** The envelope in `source[start, end)`, or undefined when the general path must decide. */
export function readDccMcpEnvelope(source: Buffer, start: number, end: number): DccMcpMessage | undefined {
  const r = new Reader(source, start, end);
  try {
    const length = r.arrayLength();
    const type = r.str();
    let m: DccMcpMessage;
    if (type === 'request' && length === 4) {
      m = { type, id: r.id(), method: r.str(), params: r.bytes() };
    } else if (type === 'response' && length === 5) {
      m = { type, id: r.id(), success: r.bool(), payload: r.bytes(), error: r.nilOr(() => r.str()) };
    } else if ((type === 'ping' || type === 'pong') && length === 3) {
      m = { type, id: r.id(), timestampMs: r.uint() };
    } else if (type === 'notify' && length === 4) {
      m = { type, id: r.nilOr(() => r.id()), topic: r.str(), data: r.bytes() };
    } else if (type === 'shutdown' && length === 2) {
      m = { type, reason: r.nilOr(() => r.str()) };
    } else {
      return undefined;
    }
    return r.at === end ? m : undefined;
  } catch (err) {
    if (err === UNUSUAL) return undefined;
    throw err;
  }
}
