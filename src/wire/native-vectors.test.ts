/**
 * The hex vectors of docs/PROTOCOL.md, checked against the real encoder and decoder.
 *
 * The vectors live in spec/vectors.json (name, frame bytes as hex, the message as JSON),
 * shared with the Python package's tests (python/tests/test_vectors.py). Every fenced
 * block in the document whose info string is `hex vector:<name>` is a complete frame
 * (length prefix included); on each line, the text from `#` on is commentary. This test
 * checks that the document's blocks are exactly the file's vectors (same names, same
 * order, same bytes), then for each block encodes the file's message and compares the
 * bytes, and decodes the bytes and compares the message. A block without a vector in the
 * file, or a vector without a block, fails the test: the document, the file and the code
 * cannot drift apart silently.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FrameTooLarge, ProtocolError } from '../errors.js';
import { InboundQueue, SendCredit, type Window } from '../rpc/flow.js';
import { FrameDecoder, HEADER_SIZE } from './frame-decoder.js';
import { packFrame } from './msgpack.js';
import { DEFAULT_STREAM_WINDOW, MessageType, nativeDialect, type NativeMessage } from './native.js';

const DOC_PATH = new URL('../../docs/PROTOCOL.md', import.meta.url);

// ------------------------------------------------------------------ the expected messages

const HELLO = {
  protocol: 'wirecall',
  versions: [1],
  peerName: 'demo-client',
  peerVersion: '0.3.0',
  maxFrameSize: 16 * 1024 * 1024,
  heartbeatMs: 5000,
  streamWindowMessages: 1024,
  streamWindowBytes: 256 * 1024,
};

const WELCOME = {
  protocol: 'wirecall',
  version: 1,
  peerName: 'demo-server',
  peerVersion: '1.0.0',
  connectionId: '1b4e28ba-2fa1-41d2-883f-0016d3cca427',
  maxFrameSize: 16 * 1024 * 1024,
  heartbeatMs: 5000,
  streamWindowMessages: 1024,
  streamWindowBytes: 256 * 1024,
};

// ------------------------------------------------------------------ the shared vectors file

const VECTORS_PATH = new URL('../../spec/vectors.json', import.meta.url);

interface FileVector {
  name: string;
  /** The message type's name, e.g. "CALL". */
  type: string;
  /** The whole frame, length prefix included: lower-case hex bytes separated by spaces. */
  hex: string;
  /** The message, in the JSON form of spec/vectors.json's `conventions`. */
  message: unknown;
}

/** A JSON value of spec/vectors.json as the value it stands for: `$bin` → Buffer, `$int64` → BigInt, `$float` → number. */
function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    const map = value as Record<string, unknown>;
    if (keys.length === 1 && typeof map['$bin'] === 'string') return Buffer.from(map['$bin'], 'hex');
    if (keys.length === 1 && typeof map['$int64'] === 'string') return BigInt(map['$int64']);
    if (keys.length === 1 && typeof map['$float'] === 'number') return map['$float'];
    return Object.fromEntries(keys.map((k) => [k, fromJson(map[k])]));
  }
  return value;
}

const file = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { vectors: FileVector[] };

/** Vector name → the message its bytes encode (spec/vectors.json). Key order inside maps matters for the bytes. */
const EXPECTED: Record<string, NativeMessage> = Object.fromEntries(
  file.vectors.map((v) => [v.name, fromJson(v.message) as NativeMessage]),
);

// ------------------------------------------------------------------ reading the document

interface Vector {
  name: string;
  /** 1-based line of the opening fence, for error messages. */
  line: number;
  bytes: Buffer;
}

/** Every `hex vector:<name>` block of the document, in document order. */
function readVectors(markdown: string): Vector[] {
  const lines = markdown.split(/\r?\n/);
  const vectors: Vector[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*hex\s+vector:(\S*)\s*$/.exec(lines[i]!);
    if (open === null) {
      if (/^(`{3,}|~{3,}).*vector:/.test(lines[i]!)) {
        throw new Error(`line ${i + 1}: fence mentions "vector:" but is not \`hex vector:<name>\`: ${lines[i]}`);
      }
      continue;
    }
    const fence = open[1]!;
    const name = open[2]!;
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`line ${i + 1}: bad vector name ${JSON.stringify(name)}`);
    const start = i;
    const bytes: number[] = [];
    for (i++; ; i++) {
      if (i >= lines.length) throw new Error(`vector ${name} (line ${start + 1}) is not closed`);
      const line = lines[i]!;
      if (line.trim() === fence) break;
      const data = line.split('#', 1)[0]!.trim();
      if (data === '') continue;
      for (const token of data.split(/\s+/)) {
        if (!/^[0-9a-f]{2}$/.test(token)) {
          throw new Error(`vector ${name}, line ${i + 1}: ${JSON.stringify(token)} is not a lower-case hex byte`);
        }
        bytes.push(parseInt(token, 16));
      }
    }
    vectors.push({ name, line: start + 1, bytes: Buffer.from(bytes) });
  }
  return vectors;
}

const vectors = readVectors(readFileSync(DOC_PATH, 'utf8'));

const hex = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');

// ------------------------------------------------------------------ the vectors

describe('docs/PROTOCOL.md hex vectors', () => {
  it('contains vectors, each name once', () => {
    expect(vectors.length).toBeGreaterThan(0);
    const names = vectors.map((v) => v.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('holds exactly the vectors of spec/vectors.json, in its order, byte for byte', () => {
    expect(vectors.map((v) => v.name)).toEqual(file.vectors.map((v) => v.name));
    for (const v of file.vectors) {
      expect(v.hex, `spec/vectors.json ${v.name}: hex is lower-case bytes separated by single spaces`).toMatch(/^[0-9a-f]{2}( [0-9a-f]{2})*$/);
      const inDoc = vectors.find((d) => d.name === v.name);
      expect(inDoc && hex(inDoc.bytes), `PROTOCOL.md block ${v.name} differs from spec/vectors.json`).toBe(v.hex);
    }
  });

  it('names each file vector after its message type', () => {
    const names = Object.fromEntries(Object.entries(MessageType).map(([name, type]) => [type, name]));
    for (const v of file.vectors) expect(names[(EXPECTED[v.name] as unknown[])[0] as number], v.name).toBe(v.type);
  });

  it('has an expectation in spec/vectors.json for every vector, and a vector for every expectation', () => {
    const inDoc = new Set(vectors.map((v) => v.name));
    expect(vectors.filter((v) => !(v.name in EXPECTED)).map((v) => `${v.name} (line ${v.line})`)).toEqual([]);
    expect(Object.keys(EXPECTED).filter((name) => !inDoc.has(name))).toEqual([]);
  });

  it('covers every message type', () => {
    const types = new Set(vectors.map((v) => EXPECTED[v.name]?.[0]));
    for (const type of Object.values(MessageType)) expect(types, `no vector for type ${type}`).toContain(type);
  });

  for (const vector of vectors) {
    describe(`vector ${vector.name} (PROTOCOL.md line ${vector.line})`, () => {
      const expected = EXPECTED[vector.name];

      it('is expected by this test', () => {
        expect(expected, `vector ${vector.name} has no expected message in spec/vectors.json`).toBeDefined();
      });
      if (expected === undefined) return;

      it('is what the encoder writes, byte for byte', () => {
        expect(hex(nativeDialect.encode(expected))).toBe(hex(vector.bytes));
        expect(hex(packFrame(expected))).toBe(hex(vector.bytes));
      });

      it('has a length prefix that counts the payload', () => {
        expect(vector.bytes.length).toBeGreaterThan(HEADER_SIZE);
        expect(vector.bytes.readUInt32BE(0)).toBe(vector.bytes.length - HEADER_SIZE);
      });

      it('decodes back to the message', () => {
        expect(nativeDialect.decode(vector.bytes.subarray(HEADER_SIZE))).toEqual(expected);
      });
    });
  }

  it('splits the conversation of section 10, sent as one byte stream, back into its messages', () => {
    const conversation = vectors.filter((v) => v.name.startsWith('conv-'));
    expect(conversation.length).toBeGreaterThan(0);
    const stream = Buffer.concat(conversation.map((v) => v.bytes));
    for (const chunkSize of [1, 3, 7, stream.length]) {
      const got: NativeMessage[] = [];
      const decoder = new FrameDecoder((s, a, b, payload = s.subarray(a, b)) => got.push(nativeDialect.decode(payload)), { maxFrameSize: 64 * 1024 });
      for (let i = 0; i < stream.length; i += chunkSize) decoder.push(stream.subarray(i, i + chunkSize));
      expect(decoder.bufferedBytes).toBe(0);
      expect(got).toEqual(conversation.map((v) => EXPECTED[v.name]));
    }
  });
});

// ------------------------------------------------------------------ malformed messages

/** Decode a value the way a receiver does: as the payload of one frame. */
function decodeValue(value: unknown): NativeMessage {
  return nativeDialect.decode(packFrame(value).subarray(HEADER_SIZE));
}

function decodeHex(payloadHex: string): NativeMessage {
  return nativeDialect.decode(Buffer.from(payloadHex.replace(/\s+/g, ''), 'hex'));
}

const HELLO_MAP: Record<string, unknown> = { ...HELLO };
const WELCOME_MAP: Record<string, unknown> = { ...WELCOME };
const BODY = { name: 'Error', message: 'boom' };

/** A copy of `map` without `key` (not even as nil). */
function without(map: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...map };
  delete copy[key];
  return copy;
}

const MALFORMED: Array<[string, unknown]> = [
  // not a message at all
  ['a map instead of an array', { type: 16 }],
  ['a bare integer', 48],
  ['an empty array', []],
  ['a string type', ['ping', 1]],
  ['a nil type', [null, 1]],
  // wrong arity, one case per type
  ['HELLO without its map', [1]],
  ['HELLO with an extra element', [1, HELLO_MAP, 1]],
  ['WELCOME with an extra element', [2, WELCOME_MAP, null]],
  ['REJECT without a message', [3, 'PROTOCOL']],
  ['CALL without timeoutMs', [16, 1, 'add', {}]],
  ['CALL with an extra element', [16, 1, 'add', {}, null, null]],
  ['RESULT without a result', [17, 1]],
  ['RESULT with an extra element', [17, 1, 5, 6]],
  ['ERROR without a body', [18, 1, 2]],
  ['CANCEL with an extra element', [19, 1, 2]],
  ['NOTIFY without params', [20, 'log']],
  ['PING without a nonce', [48]],
  ['PONG with an extra element', [49, 1, 2]],
  ['SHUTDOWN without a reason', [50]],
  // wrong field types
  ['HELLO whose body is an array', [1, ['wirecall']]],
  ['HELLO without protocol', [1, without(HELLO_MAP, 'protocol')]],
  ['HELLO with a nil protocol', [1, { ...HELLO_MAP, protocol: null }]],
  ['HELLO without versions', [1, without(HELLO_MAP, 'versions')]],
  ['HELLO without peerName', [1, without(HELLO_MAP, 'peerName')]],
  ['HELLO without peerVersion', [1, without(HELLO_MAP, 'peerVersion')]],
  ['HELLO without maxFrameSize', [1, without(HELLO_MAP, 'maxFrameSize')]],
  ['HELLO without heartbeatMs', [1, without(HELLO_MAP, 'heartbeatMs')]],
  ['HELLO with versions not an array', [1, { ...HELLO_MAP, versions: 1 }]],
  ['HELLO with a string version', [1, { ...HELLO_MAP, versions: ['1'] }]],
  ['HELLO with a bin peerName', [1, { ...HELLO_MAP, peerName: Buffer.from('x') }]],
  ['HELLO with a numeric token', [1, { ...HELLO_MAP, token: 42 }]],
  ['HELLO with a negative maxFrameSize', [1, { ...HELLO_MAP, maxFrameSize: -1 }]],
  ['HELLO with maxFrameSize over 2^32-1', [1, { ...HELLO_MAP, maxFrameSize: 2 ** 32 }]],
  ['HELLO with a fractional heartbeatMs', [1, { ...HELLO_MAP, heartbeatMs: 1.5 }]],
  ['WELCOME without connectionId', [2, without(WELCOME_MAP, 'connectionId')]],
  ['WELCOME without version', [2, without(WELCOME_MAP, 'version')]],
  ['WELCOME with a nil maxFrameSize', [2, { ...WELCOME_MAP, maxFrameSize: null }]],
  ['WELCOME whose body is nil', [2, null]],
  ['WELCOME with a string version', [2, { ...WELCOME_MAP, version: '1' }]],
  ['HELLO with a zero streamWindowMessages', [1, { ...HELLO_MAP, streamWindowMessages: 0 }]],
  ['HELLO with a zero streamWindowBytes', [1, { ...HELLO_MAP, streamWindowBytes: 0 }]],
  ['HELLO with a string streamWindowMessages', [1, { ...HELLO_MAP, streamWindowMessages: '1024' }]],
  ['HELLO with streamWindowBytes over 2^32-1', [1, { ...HELLO_MAP, streamWindowBytes: 2 ** 32 }]],
  // PROTOCOL.md 5.1, reference note: nil is not accepted for the window keys.
  ['WELCOME with a zero streamWindowMessages', [2, { ...WELCOME_MAP, streamWindowMessages: 0 }]],
  ['WELCOME with a fractional streamWindowBytes', [2, { ...WELCOME_MAP, streamWindowBytes: 1.5 }]],
  ['REJECT with a numeric reason', [3, 1, 'x']],
  ['CALL with a string id', [16, '1', 'add', {}, null]],
  ['CALL with a negative id', [16, -1, 'add', {}, null]],
  ['CALL with an id over 2^32-1', [16, 2 ** 32, 'add', {}, null]],
  ['CALL with a fractional id', [16, 1.5, 'add', {}, null]],
  ['CALL with a numeric method', [16, 1, 7, {}, null]],
  ['CALL with a bin method', [16, 1, Buffer.from('add'), {}, null]],
  ['CALL with a string timeout', [16, 1, 'add', {}, '100']],
  ['CALL with a negative timeout', [16, 1, 'add', {}, -5]],
  ['CALL with an infinite timeout', [16, 1, 'add', {}, Infinity]],
  ['CALL with a timeout over 2^32-1', [16, 1, 'add', {}, 2 ** 32]],
  ['RESULT with a nil id', [17, null, 5]],
  ['ERROR with a string status', [18, 1, 'METHOD_ERROR', BODY]],
  ['ERROR with a string body', [18, 1, 2, 'boom']],
  ['ERROR with an array body', [18, 1, 2, ['Error', 'boom']]],
  ['ERROR body without a name', [18, 1, 2, { message: 'boom' }]],
  ['ERROR body without a message', [18, 1, 2, { name: 'Error' }]],
  ['ERROR body with a numeric code', [18, 1, 2, { ...BODY, code: 2 }]],
  ['ERROR body with a map stack', [18, 1, 2, { ...BODY, stack: {} }]],
  ['CANCEL with a string id', [19, 'x']],
  ['NOTIFY with a numeric method', [20, 1, null]],
  ['PING with a negative nonce', [48, -1]],
  ['PONG with a string nonce', [49, 'x']],
  ['SHUTDOWN with a numeric reason', [50, 1]],
  // unknown and reserved types
  ['type 0', [0]],
  ['type 4 (unassigned)', [4, 1]],
  ['type 21 (unassigned)', [21, 1]],
  ['STREAM_OPEN without its window', [32, 1, 'count', null, null, 1]],
  ['STREAM_OPEN with an extra element', [32, 1, 'count', null, null, 1, 16, 1024, null]],
  ['STREAM_OPEN with a numeric method', [32, 1, 7, null, null, 1, 16, 1024]],
  ['STREAM_OPEN with a string timeout', [32, 1, 'count', null, '100', 1, 16, 1024]],
  ['STREAM_OPEN of kind 0', [32, 1, 'count', null, null, 0, 16, 1024]],
  ['STREAM_OPEN with a string kind', [32, 1, 'count', null, null, '1', 16, 1024]],
  ['STREAM_OPEN with a window over 2^32-1', [32, 1, 'count', null, null, 1, 16, 2 ** 32]],
  ['HANDLER_MESSAGE with an extra element', [36, 1, 'x', 'y']],
  ['CALLER_END with an extra element', [34, 1, 2]],
  ['CALLER_CREDIT with a credit over 2^32-1', [35, 1, 2 ** 32, 10]],
  ['HANDLER_CREDIT with a fractional grant', [37, 1, 1.5, 10]],
  ['STREAM_OPEN of kind 4', [32, 1, 'count', null, null, 4, 16, 1024]],
  ['STREAM_OPEN with a zero message window', [32, 1, 'count', null, null, 1, 0, 1024]],
  ['STREAM_OPEN with a zero byte window', [32, 1, 'count', null, null, 1, 16, 0]],
  ['CALLER_MESSAGE without a value', [33, 1]],
  ['CALLER_END with a string id', [34, 'x']],
  ['CALLER_CREDIT with a negative grant', [35, 1, -1, 10]],
  ['HANDLER_MESSAGE with a string id', [36, 'x', 1]],
  ['HANDLER_CREDIT without bytes', [37, 1, 1]],
  ['reserved stream type 38', [38, 1]],
  ['reserved stream type 47', [47, 1]],
  ['type 51 (unassigned)', [51, null]],
  ['type 99', [99]],
  ['type -1', [-1]],
  ['a fractional type', [16.5, 1, 'add', {}, null]],
];

describe('malformed messages throw ProtocolError', () => {
  it.each(MALFORMED)('%s', (_what, value) => {
    expect(() => decodeValue(value)).toThrow(ProtocolError);
  });

  it('names the problem: arity, stream types, unknown types', () => {
    expect(() => decodeValue([16, 1, 'add', {}])).toThrow(/malformed CALL message/);
    expect(() => decodeValue([32, 1])).toThrow(/malformed STREAM_OPEN message/);
    expect(() => decodeValue([40, 1])).toThrow(/stream message type 40 is reserved/);
    expect(() => decodeValue([99])).toThrow(/unknown message type 99/);
    expect(() => decodeValue({})).toThrow(/not a wirecall message/);
  });

  it('rejects an empty payload (a length-0 frame)', () => {
    expect(() => nativeDialect.decode(Buffer.alloc(0))).toThrow(ProtocolError);
    expect(() => nativeDialect.decode(Buffer.alloc(0))).toThrow(/empty frame/);
  });

  it('rejects trailing bytes after the one value', () => {
    expect(() => decodeHex('92 30 00 00')).toThrow(ProtocolError); // [48, 0] then a stray 0
    expect(() => decodeHex('92 30 00 92 31 00')).toThrow(ProtocolError); // two messages in one frame
    expect(() => decodeHex('92 30 00 c0')).toThrow(/undecodable MessagePack payload/);
  });

  it('rejects a truncated value', () => {
    expect(() => decodeHex('92 30')).toThrow(ProtocolError); // array of 2, one element
    expect(() => decodeHex('95 10 01 a3 61 64')).toThrow(ProtocolError); // string cut short
    expect(() => decodeHex('ce 00 00')).toThrow(ProtocolError);
  });

  it('rejects extension types other than the timestamp', () => {
    // [17, 1, ext 5 (fixext 1)]
    expect(() => decodeHex('93 11 01 d4 05 00')).toThrow(ProtocolError);
  });

  it('rejects a whole frame (prefix included) passed as a payload', () => {
    expect(() => decodeHex('00 00 00 03 92 30 00')).toThrow(ProtocolError);
  });
});

// ------------------------------------------------------------------ what PROTOCOL.md promises about decoding

describe('decoding accepts any encoding width up to 32 bits', () => {
  it('reads fixmap, map 16, array 16, str 8 and uint/int encodings of the same CALL alike', () => {
    const expected: NativeMessage = [16, 9, 'echo', { a: 1 }, 100];
    const forms = [
      '95 10 09 a4 65 63 68 6f 81 a1 61 01 64', // compact, fixmap (what Python writes)
      '95 10 09 a4 65 63 68 6f de 00 01 a1 61 01 64', // map 16 (what the reference writes)
      'dc 00 05 10 09 a4 65 63 68 6f 81 a1 61 01 64', // array 16
      '95 10 09 d9 04 65 63 68 6f 81 a1 61 01 64', // str 8 method
      '95 cc 10 ce 00 00 00 09 a4 65 63 68 6f 81 a1 61 01 cd 00 64', // uint 8 / 32 / 16
      '95 d0 10 d2 00 00 00 09 a4 65 63 68 6f 81 a1 61 01 d1 00 64', // int 8 / 32 / 16
    ];
    for (const form of forms) expect(decodeHex(form)).toEqual(expected);
  });

  it('treats nil and a missing key alike for the optional HELLO token', () => {
    expect(decodeValue([1, { ...HELLO_MAP, token: null }])[0]).toBe(MessageType.HELLO);
    expect(decodeValue([1, HELLO_MAP])[0]).toBe(MessageType.HELLO);
  });

  it('accepts HELLO and WELCOME without the optional stream window keys, or with only one', () => {
    for (const key of ['streamWindowMessages', 'streamWindowBytes']) {
      expect(decodeValue([1, without(HELLO_MAP, key)])[0]).toBe(MessageType.HELLO);
      expect(decodeValue([2, without(WELCOME_MAP, key)])[0]).toBe(MessageType.WELCOME);
    }
    const bare = without(without(HELLO_MAP, 'streamWindowMessages'), 'streamWindowBytes');
    expect(decodeValue([1, bare])).toEqual([1, bare]);
    // nil means absent, as for every optional handshake key.
    expect(decodeValue([1, { ...HELLO_MAP, streamWindowMessages: null }])[0]).toBe(MessageType.HELLO);
    expect(decodeValue([2, { ...WELCOME_MAP, streamWindowBytes: null }])[0]).toBe(MessageType.WELCOME);
  });

  it('accepts stream frames with any value, nil messages, and credit grants of 0', () => {
    for (const value of [null, 0, 'x', Buffer.from([1]), [], { a: 1 }]) {
      expect(decodeValue([33, 1, value])).toEqual([33, 1, value]);
      expect(decodeValue([36, 1, value])).toEqual([36, 1, value]);
      expect(decodeValue([32, 1, 'm', value, null, 2, 1, 1])).toEqual([32, 1, 'm', value, null, 2, 1, 1]);
    }
    expect(decodeValue([35, 1, 0, 0])).toEqual([35, 1, 0, 0]);
    expect(decodeValue([37, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff])).toEqual([37, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff]);
  });

  it('ignores unknown keys in HELLO, WELCOME and error bodies', () => {
    expect(decodeValue([1, { ...HELLO_MAP, futureKey: [1, 2] }])[0]).toBe(MessageType.HELLO);
    expect(decodeValue([2, { ...WELCOME_MAP, futureKey: true }])[0]).toBe(MessageType.WELCOME);
    expect(decodeValue([18, 1, 2, { ...BODY, retryAfterMs: 100 }])[0]).toBe(MessageType.ERROR);
  });

  it('accepts any value as params, result and error data', () => {
    for (const value of [null, 0, -1, 1.5, 'x', Buffer.from([1]), [], {}, [null, { a: [true, false] }]]) {
      expect(decodeValue([16, 1, 'm', value, null])).toEqual([16, 1, 'm', value, null]);
      expect(decodeValue([17, 1, value])).toEqual([17, 1, value]);
      expect(decodeValue([20, 'm', value])).toEqual([20, 'm', value]);
      expect(decodeValue([18, 1, 2, { ...BODY, data: value }])).toEqual([18, 1, 2, { ...BODY, data: value }]);
    }
  });
});

describe('framing promises of PROTOCOL.md', () => {
  it('hands a length-0 frame on as an empty payload, which the dialect rejects', () => {
    const payloads: Buffer[] = [];
    new FrameDecoder((s, a, b, p = s.subarray(a, b)) => payloads.push(p)).push(Buffer.from([0, 0, 0, 0]));
    expect(payloads).toHaveLength(1);
    expect(() => nativeDialect.decode(payloads[0]!)).toThrow(ProtocolError);
  });

  it('accepts a payload of exactly the limit and refuses one byte more from the prefix alone', () => {
    const ok: Buffer[] = [];
    const decoder = new FrameDecoder((s, a, b, p = s.subarray(a, b)) => ok.push(p), { maxFrameSize: 3 });
    decoder.push(Buffer.from('0000000392 3000'.replace(/\s/g, ''), 'hex'));
    expect(ok.map((p) => nativeDialect.decode(p))).toEqual([[48, 0]]);
    const strict = new FrameDecoder(() => {}, { maxFrameSize: 3 });
    expect(() => strict.push(Buffer.from([0, 0, 0, 4]))).toThrow(FrameTooLarge);
  });
});

// ------------------------------------------------------------------ the credit arithmetic of PROTOCOL.md 6.10.4

/** The payload size of a vector's frame: what its message costs in stream credit. */
function sizeOf(name: string): number {
  const vector = vectors.find((v) => v.name === name);
  if (vector === undefined) throw new Error(`no vector ${name}`);
  return vector.bytes.readUInt32BE(0);
}

function valueOf(name: string): unknown {
  return (EXPECTED[name] as unknown[])[2];
}

/** A receiving half whose grants are recorded. */
function receiver(window: Window): { queue: InboundQueue<unknown>; grants: Array<[number, number]> } {
  const grants: Array<[number, number]> = [];
  return { queue: new InboundQueue<unknown>(window, { grant: (m, b) => grants.push([m, b]), abandon: () => {} }), grants };
}

describe('the flow control of the conversation (section 10), replayed through the reference credit code', () => {
  it('server stream, steps 12-19: four messages use up a window of 4, reading two grants exactly conv-17', async () => {
    const open = EXPECTED['conv-12-stream-open']!;
    const window = { messages: open[6] as number, bytes: open[7] as number };
    const { queue, grants } = receiver(window);
    const wire: Buffer[] = [];
    const credit = new SendCredit(window, (frame) => wire.push(frame));
    const messages = ['conv-13-message', 'conv-14-message', 'conv-15-message', 'conv-16-message', 'conv-18-message'];
    const sends = messages.map((name) => credit.send(packFrame(EXPECTED[name]), sizeOf(name)));
    expect(wire).toHaveLength(4); // step 16: no credit left for the fifth
    expect(credit.canSend).toBe(false);
    for (let i = 0; i < 4; i++) expect(queue.push(valueOf(messages[i]!), sizeOf(messages[i]!))).toBe(true);
    expect((await queue.next()).value).toBe('cube');
    expect(grants).toEqual([]);
    expect((await queue.next()).value).toBe('sphere');
    const credit17 = EXPECTED['conv-17-credit']!;
    expect(grants).toEqual([[credit17[2], credit17[3]]]); // step 17: [35, 4, 2, 18]
    credit.grant(...grants[0]!);
    expect(wire).toHaveLength(5); // step 18: plane goes
    expect(wire[4]!.toString('hex')).toBe(packFrame(EXPECTED['conv-18-message']).toString('hex'));
    await Promise.all(sends);
    expect(queue.push('plane', sizeOf('conv-18-message'))).toBe(true);
    queue.end(); // step 19: RESULT
    expect((await queue.next()).value).toBe('cone');
    expect((await queue.next()).value).toBe('torus');
    expect((await queue.next()).value).toBe('plane');
    expect((await queue.next()).done).toBe(true);
    expect(grants).toHaveLength(1); // no credit for a stream that is over
  });

  it('client stream, steps 20-26: the handler side grants exactly conv-23 with the window of conv-02', async () => {
    const welcome = EXPECTED['conv-02-welcome']![1] as { streamWindowMessages: number; streamWindowBytes: number };
    const window = { messages: welcome.streamWindowMessages, bytes: welcome.streamWindowBytes };
    const { queue, grants } = receiver(window);
    for (const name of ['conv-21-message', 'conv-22-message']) expect(queue.push(valueOf(name), sizeOf(name))).toBe(true);
    await queue.next();
    await queue.next();
    const credit23 = EXPECTED['conv-23-credit']!;
    expect(grants).toEqual([[credit23[2], credit23[3]]]);
    expect(queue.push(valueOf('conv-24-message'), sizeOf('conv-24-message'))).toBe(true);
    queue.end(); // step 25: CALLER_END
    expect((await queue.next()).value).toBe('v 0 1 0');
    expect((await queue.next()).done).toBe(true);
    expect(grants).toHaveLength(1);
  });

  it('grants in batches of half a window, in messages or in bytes, whichever comes first', async () => {
    const byMessages = receiver({ messages: 8, bytes: 1000 });
    for (let i = 0; i < 8; i++) byMessages.queue.push(i, 10);
    for (let i = 0; i < 8; i++) await byMessages.queue.next();
    expect(byMessages.grants).toEqual([
      [4, 40],
      [4, 40],
    ]);
    const byBytes = receiver({ messages: 8, bytes: 100 });
    for (let i = 0; i < 4; i++) byBytes.queue.push(i, 30);
    for (let i = 0; i < 4; i++) await byBytes.queue.next();
    expect(byBytes.grants).toEqual([
      [2, 60],
      [2, 60],
    ]);
  });

  it('a message larger than the whole window goes while one byte is left; the next waits; the receiver agrees', () => {
    const window = { messages: 4, bytes: 100 };
    const wire: Buffer[] = [];
    const credit = new SendCredit(window, (frame) => wire.push(frame));
    const { queue } = receiver(window);
    void credit.send(Buffer.from('a'), 60);
    void credit.send(Buffer.from('b'), 500); // 40 bytes left: it goes, the credit goes to -460
    void credit.send(Buffer.from('c'), 1);
    expect(wire).toHaveLength(2);
    expect(queue.push('a', 60)).toBe(true);
    expect(queue.push('b', 500)).toBe(true);
    expect(queue.push('c', 1)).toBe(false); // beyond the credit: the connection treats it as fatal
    credit.grant(0, 460);
    expect(wire).toHaveLength(2); // back to 0 bytes: still not enough
    credit.grant(0, 1);
    expect(wire).toHaveLength(3);
  });

  it('grants no credit once the direction has ended (CALLER_END, RESULT)', async () => {
    const { queue, grants } = receiver({ messages: 2, bytes: 1000 });
    queue.push('a', 10);
    queue.push('b', 10);
    queue.end();
    await queue.next();
    await queue.next();
    expect(grants).toEqual([]);
  });

  it('uses the documented defaults for a window the handshake leaves out', () => {
    expect(DEFAULT_STREAM_WINDOW).toEqual({ messages: 1024, bytes: 262_144 });
  });
});
