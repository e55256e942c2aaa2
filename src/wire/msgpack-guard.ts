import { InvalidOption, ProtocolError } from '../errors.js';

/**
 * A MessagePack structure scanner: walks the bytes of one frame payload without building
 * any value, and rejects what the decoder (msgpackr) must never see. It enforces:
 *
 * - **well-formed**: exactly one value, not truncated, no trailing bytes, no 0xC1;
 * - **no extension types but the standard timestamp** (type −1 as fixext 4, fixext 8 or
 *   ext 8 with 12 data bytes). msgpackr interprets private extensions (records,
 *   structured-clone ids and pointers, typed arrays, regexps, big integers…) on input:
 *   they let a few bytes build cyclic or shared structures (a DAG of 2^26 leaves from
 *   336 bytes). Plain MessagePack cannot express sharing, so with them gone the decoded
 *   value is a tree no larger than the element count below;
 * - **at most `maxMessageElements` elements**, where every value counts 1, wherever it
 *   is: each scalar (nil, boolean, number, str, bin, timestamp), each array or map (the
 *   container itself), each element of an array, and each key and each value of a map.
 *   So `[1, "a"]` holds 3 elements, `{"a": 1}` holds 3, `{"a": [1, 2]}` holds 5, and a
 *   payload holds 1 + Σ(array lengths) + 2 × Σ(map sizes). Since every element takes at
 *   least one byte, a container header that declares more elements than are left is
 *   rejected at once, before its contents are read;
 * - **at most `maxMessageDepth` levels of nesting**: the number of arrays and maps open
 *   at once. A scalar at top level has depth 0, `[]` and `{}` have depth 1, `[[1]]` and
 *   `{"a": {}}` depth 2. Every native message is an array, so its params sit at depth 2
 *   and the nesting inside them may reach `maxMessageDepth - 1`.
 *
 * `str` and `bin` bodies are skipped, never read: one 16 MiB `bin` costs the same as an
 * empty one, and counts as one element.
 *
 * The scan is resumable: a frame that arrives split across socket chunks is fed as its
 * bytes arrive (`begin`, then `advance` with ever more bytes of the same buffer), so a
 * huge frame of tiny elements is rejected as soon as the limit is crossed, before the
 * rest of it is buffered. A frame that arrived whole is checked in one call (`check`).
 * State is a few numbers and one typed array of the elements still expected at each open
 * level: nothing is allocated per frame or per element.
 */

/**
 * Default cap on the elements of one payload. Decoding cost is per element (an object,
 * a property, a string or a Date each), not per byte: one 16 MiB frame of tiny map keys
 * (`{"a": 0, "b": 0, …}`) is millions of elements and blocked the event loop for ~0.5 s.
 * Measured on a 2-core machine with msgpackr 2.1.3 (Node 20), at 100 000 elements: one map
 * of 50 000 distinct tiny keys decodes in ~9 ms (~18 ms the first time), the costliest
 * shapes found (arrays of one-key maps, arrays of timestamps: ~200 ns per element) in
 * ~16–22 ms (~30 ms the first time); at 150 000, tiny keys took 12–28 ms. The scan itself
 * costs 2–3 ns per element. Larger data belongs in `bin` (typed arrays are sent as `bin`)
 * or in several messages (a stream).
 */
export const DEFAULT_MAX_MESSAGE_ELEMENTS = 100_000;
/** Default cap on nesting (see above): deeply nested JSON-like DCC data rarely passes 20. */
export const DEFAULT_MAX_MESSAGE_DEPTH = 64;

/** Largest value of either limit: counts stay 32-bit integers, which keeps the scan fast. */
export const MAX_MESSAGE_LIMIT = 0x7fff_ffff;

/** Returns `value` if it is an integer from 1 to MAX_MESSAGE_LIMIT; throws InvalidOption otherwise. */
export function checkMessageLimit(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_MESSAGE_LIMIT) {
    throw new InvalidOption(`${name} must be an integer from 1 to ${MAX_MESSAGE_LIMIT}, got ${String(value)}`);
  }
  return value;
}

/** Malformed-payload messages keep the prefix unpackPayload has always used. */
const UNDECODABLE = 'undecodable MessagePack payload: ';

function fail(message: string): never {
  throw new ProtocolError(message);
}

function failExtension(type: number, length: number): never {
  const signed = (type << 24) >> 24;
  if (signed === -1) fail(`timestamp extension (-1) of length ${length} is not allowed (only 4, 8 or 12)`);
  fail(`extension type ${signed} is not allowed (only the timestamp extension, -1)`);
}

export class MessagePackGuard {
  /**
   * `left` of every enclosing level, saved while a deeper level is open: the values it
   * still expects, the open container included (at most the element limit: an int32).
   * Grows (doubling, up to the depth limit) only as nesting really grows.
   */
  private saved: Int32Array = new Int32Array(16);
  /** Open containers. */
  private depth = 0;
  /** Values still expected at the current level, the one being read included. */
  private left = 0;
  /** Elements that may still be declared before the limit is crossed. */
  private budget = 0;
  private maxElements = DEFAULT_MAX_MESSAGE_ELEMENTS;
  private maxDepth = DEFAULT_MAX_MESSAGE_DEPTH;
  /** Next byte to read; may lie past the bytes fed so far (inside a str/bin/number body). */
  private pos = 0;

  /**
   * Start a payload that begins at `start` of the buffer later passed to `advance`.
   * Limits are positive integers (see checkMessageLimit); they apply to this payload.
   */
  begin(start: number, maxElements: number, maxDepth: number): void {
    this.pos = start;
    this.depth = 0;
    this.left = 1; // the one value
    this.budget = maxElements - 1;
    this.maxElements = maxElements;
    this.maxDepth = maxDepth;
  }

  /** Check `source[start, end)` as one whole payload. Throws ProtocolError. */
  check(source: Uint8Array, start: number, end: number, maxElements: number, maxDepth: number): void {
    if (end <= start) fail('empty frame');
    this.begin(start, maxElements, maxDepth);
    this.advance(source, end, true);
  }

  /**
   * Scan on, up to `end`: `source` must hold every byte of the payload up to `end`
   * (bytes before the resume point are not read again, but a header cut by the previous
   * `end` is read again from its first byte). `final`: `end` is the end of the payload.
   * Throws ProtocolError as soon as the bytes seen break a rule.
   */
  advance(source: Uint8Array, end: number, final: boolean): void {
    let pos = this.pos;
    let left = this.left;
    if (left !== 0) {
      let depth = this.depth;
      let budget = this.budget;
      let saved = this.saved;
      const maxDepth = this.maxDepth;
      scan: while (pos < end) {
        const b = source[pos]!;
        let children: number;
        if (b < 0x80 || b >= 0xe0) {
          pos += 1; // fixint
          children = 0;
        } else if (b >= 0xa0 && b < 0xc0) {
          pos += 1 + (b & 0x1f); // fixstr
          children = 0;
        } else if (b < 0x90) {
          pos += 1;
          children = (b & 0x0f) << 1; // fixmap
          if (depth >= maxDepth) this.failDepth();
        } else if (b < 0xa0) {
          pos += 1;
          children = b & 0x0f; // fixarray
          if (depth >= maxDepth) this.failDepth();
        } else {
          children = 0;
          switch (b) {
            case 0xc0: // nil, false, true
            case 0xc2:
            case 0xc3:
              pos += 1;
              break;
            case 0xc4: // bin 8, str 8
            case 0xd9:
              if (pos + 2 > end) break scan;
              pos += 2 + source[pos + 1]!;
              break;
            case 0xc5: // bin 16, str 16
            case 0xda:
              if (pos + 3 > end) break scan;
              pos += 3 + ((source[pos + 1]! << 8) | source[pos + 2]!);
              break;
            case 0xc6: // bin 32, str 32
            case 0xdb:
              if (pos + 5 > end) break scan;
              pos += 5 + uint32(source, pos + 1);
              break;
            case 0xca: // float 32, uint 32, int 32
            case 0xce:
            case 0xd2:
              pos += 5;
              break;
            case 0xcb: // float 64, uint 64, int 64
            case 0xcf:
            case 0xd3:
              pos += 9;
              break;
            case 0xcc: // uint 8, int 8
            case 0xd0:
              pos += 2;
              break;
            case 0xcd: // uint 16, int 16
            case 0xd1:
              pos += 3;
              break;
            case 0xd6: // fixext 4, fixext 8: timestamp 32 and 64
            case 0xd7:
              if (pos + 2 > end) break scan;
              if (source[pos + 1] !== 0xff) failExtension(source[pos + 1]!, b === 0xd6 ? 4 : 8);
              pos += b === 0xd6 ? 6 : 10;
              break;
            case 0xc7: // ext 8: timestamp 96
              if (pos + 3 > end) break scan;
              if (source[pos + 2] !== 0xff || source[pos + 1] !== 12) failExtension(source[pos + 2]!, source[pos + 1]!);
              pos += 15;
              break;
            case 0xd4: // fixext 1, 2, 16: never a timestamp
            case 0xd5:
            case 0xd8:
              if (pos + 2 > end) break scan;
              failExtension(source[pos + 1]!, b === 0xd4 ? 1 : b === 0xd5 ? 2 : 16);
            case 0xc8: // ext 16
              if (pos + 4 > end) break scan;
              failExtension(source[pos + 3]!, (source[pos + 1]! << 8) | source[pos + 2]!);
            case 0xc9: // ext 32
              if (pos + 6 > end) break scan;
              failExtension(source[pos + 5]!, uint32(source, pos + 1));
            case 0xdc: // array 16
              if (pos + 3 > end) break scan;
              if (depth >= maxDepth) this.failDepth();
              children = (source[pos + 1]! << 8) | source[pos + 2]!;
              pos += 3;
              break;
            case 0xdd: // array 32
              if (pos + 5 > end) break scan;
              if (depth >= maxDepth) this.failDepth();
              children = uint32(source, pos + 1);
              pos += 5;
              break;
            case 0xde: // map 16
              if (pos + 3 > end) break scan;
              if (depth >= maxDepth) this.failDepth();
              children = ((source[pos + 1]! << 8) | source[pos + 2]!) * 2;
              pos += 3;
              break;
            case 0xdf: // map 32
              if (pos + 5 > end) break scan;
              if (depth >= maxDepth) this.failDepth();
              children = uint32(source, pos + 1) * 2;
              pos += 5;
              break;
            default: // 0xc1
              fail(`${UNDECODABLE}reserved byte 0xc1`);
          }
        }
        if (children !== 0) {
          // A non-empty container: its elements come next, one level down.
          budget -= children;
          if (budget < 0) this.failElements();
          if (depth === saved.length) saved = this.grow();
          saved[depth++] = left;
          left = children;
          continue;
        }
        // A value is complete; so is every container it was the last element of.
        while (--left === 0) {
          if (depth === 0) break scan;
          left = saved[--depth]!;
        }
      }
      this.depth = depth;
      this.budget = budget;
    }
    this.pos = pos;
    this.left = left;
    if (left === 0) {
      // Any byte after the value, here or still to come, is one too many.
      if (pos < end || (pos === end && !final)) fail(`${UNDECODABLE}trailing bytes after the MessagePack value`);
      if (pos > end && final) fail(`${UNDECODABLE}truncated MessagePack`);
    } else if (final) {
      fail(`${UNDECODABLE}truncated MessagePack`);
    }
  }

  private failDepth(): never {
    fail(`message nests deeper than ${this.maxDepth} (limit maxMessageDepth)`);
  }

  private failElements(): never {
    fail(`message holds more than ${this.maxElements} elements (limit maxMessageElements)`);
  }

  /** Room for one more level (saved while `depth` < the depth limit: `maxDepth` entries do). */
  private grow(): Int32Array {
    const saved = new Int32Array(Math.min(this.saved.length * 2, this.maxDepth));
    saved.set(this.saved);
    return (this.saved = saved);
  }
}

function uint32(source: Uint8Array, at: number): number {
  return source[at]! * 0x1000000 + ((source[at + 1]! << 16) | (source[at + 2]! << 8) | source[at + 3]!);
}

/** Checks for `unpackPayload`'s direct callers: a payload at a time, so one is enough. */
const oneShot = new MessagePackGuard();

/** Check `source[start, end)` as one whole payload under the given (or default) limits. */
export function checkPayload(
  source: Uint8Array,
  start: number,
  end: number,
  maxElements = DEFAULT_MAX_MESSAGE_ELEMENTS,
  maxDepth = DEFAULT_MAX_MESSAGE_DEPTH,
): void {
  oneShot.check(source, start, end, maxElements, maxDepth);
}
