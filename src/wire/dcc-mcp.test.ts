/**
 * The dcc-mcp-core 0.12.3–0.13.6 envelope codec: every byte vector of
 * ../shared/reference/dcc-mcp-core.md (also in docs/DCC-MCP.md, checked below), round
 * trips, the quirks (bin16 ids, byte fields as integer arrays, nil never omitted) and
 * malformed envelopes.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../errors.js';
import {
  bytesToUuid,
  dccMcpDialect,
  dccMcpMaxElements,
  decodeDccMcp,
  decodeDccMcpFrame,
  encodeDccMcp,
  encodeDccNotify,
  encodeDccPing,
  encodeDccRequest,
  encodeDccResponse,
  encodeDccShutdown,
  newEnvelopeId,
  uuidToBytes,
  type DccMcpMessage,
} from './dcc-mcp.js';
import { detectDialect } from './detect-dialect.js';
import { encodeCall, encodeHello, encodeNotify, encodePing } from './encode.js';
import { FrameDecoder, HEADER_SIZE } from './frame-decoder.js';
import { packFrame } from './msgpack.js';
import { nativeDialect } from './native.js';

const ID = '00112233-4455-6677-8899-aabbccddeeff';
const U = 'c4 10 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff';
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const spaced = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
/** A raw MessagePack decoder (no shape check), to look at what we emit. */
const raw = new Unpackr({ useRecords: false, int64AsType: 'auto' as 'number' });
const payloadOf = (frame: Buffer): unknown => raw.unpack(frame.subarray(HEADER_SIZE));

/** The reference's vectors, each a complete frame, with the envelope it holds. */
const VECTORS: { name: string; bytes: string; message: DccMcpMessage }[] = [
  {
    name: 'request',
    bytes: `00 00 00 25  94  a7 72 65 71 75 65 73 74  ${U}  a4 70 69 6e 67  93 01 02 cc c8`,
    message: { type: 'request', id: ID, method: 'ping', params: Buffer.from([0x01, 0x02, 0xc8]) },
  },
  {
    name: 'response',
    bytes: `00 00 00 23  95  a8 72 65 73 70 6f 6e 73 65  ${U}  c2  90  a4 62 6f 6f 6d`,
    message: { type: 'response', id: ID, success: false, payload: Buffer.alloc(0), error: 'boom' },
  },
  {
    name: 'ping',
    bytes: `00 00 00 21  93  a4 70 69 6e 67  ${U}  cf 00 00 01 8b cf e5 68 00`,
    message: { type: 'ping', id: ID, timestampMs: 1_700_000_000_000 },
  },
  {
    name: 'pong',
    bytes: `00 00 00 21  93  a4 70 6f 6e 67  ${U}  cf 00 00 01 8b cf e5 68 00`,
    message: { type: 'pong', id: ID, timestampMs: 1_700_000_000_000 },
  },
  {
    name: 'notify',
    bytes: '00 00 00 0c  94  a6 6e 6f 74 69 66 79  c0  a1 74  90',
    message: { type: 'notify', id: null, topic: 't', data: Buffer.alloc(0) },
  },
  {
    name: 'shutdown',
    bytes: '00 00 00 0b  92  a8 73 68 75 74 64 6f 77 6e  c0',
    message: { type: 'shutdown', reason: null },
  },
];

describe('dcc-mcp envelope: the reference vectors', () => {
  for (const v of VECTORS) {
    it(`${v.name}: encodes to exactly the vector and decodes back`, () => {
      const expected = hex(v.bytes);
      expect(spaced(encodeDccMcp(v.message))).toBe(spaced(expected));
      expect(spaced(dccMcpDialect.encode(v.message))).toBe(spaced(expected));
      expect(decodeDccMcpFrame(expected)).toEqual(v.message);
      expect(dccMcpDialect.decode(expected, HEADER_SIZE, expected.length)).toEqual(v.message);
      expect(dccMcpDialect.decodeScanned(expected, HEADER_SIZE, expected.length)).toEqual(v.message);
      expect(detectDialect(expected, HEADER_SIZE)).toBe('dcc-mcp');
    });
  }

  it('the per-type encoders write the same bytes', () => {
    expect(encodeDccRequest(ID, 'ping', Buffer.from([1, 2, 200]))).toEqual(hex(VECTORS[0]!.bytes));
    expect(encodeDccResponse(ID, false, Buffer.alloc(0), 'boom')).toEqual(hex(VECTORS[1]!.bytes));
    expect(encodeDccPing(ID, 1_700_000_000_000)).toEqual(hex(VECTORS[2]!.bytes));
    expect(encodeDccNotify(null, 't', new Uint8Array(0))).toEqual(hex(VECTORS[4]!.bytes));
    expect(encodeDccShutdown(null)).toEqual(hex(VECTORS[5]!.bytes));
  });

  it('docs/DCC-MCP.md holds every vector, byte for byte', () => {
    const doc = readFileSync(new URL('../../docs/DCC-MCP.md', import.meta.url), 'utf8');
    const blocks = new Map<string, Buffer>();
    for (const m of doc.matchAll(/```hex vector:dcc-mcp-([a-z]+)\n([\s\S]*?)```/g)) {
      const bytes = m[2]!
        .split('\n')
        .map((line) => line.replace(/#.*$/, '').replace(/<U>/g, U))
        .join(' ');
      blocks.set(m[1]!, hex(bytes));
    }
    expect([...blocks.keys()].sort()).toEqual(VECTORS.map((v) => v.name).sort());
    for (const v of VECTORS) expect(spaced(blocks.get(v.name)!), v.name).toBe(spaced(hex(v.bytes)));
  });
});

// ------------------------------------------------------------------------ round trips

const idArb = fc.uuid().map((u) => u.toLowerCase());
const bytesArb = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const strArb = fc.string({ unit: 'grapheme', maxLength: 80 });
const tsArb = fc.oneof(
  fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const messageArb: fc.Arbitrary<DccMcpMessage> = fc.oneof(
  fc.record({ type: fc.constant('request' as const), id: idArb, method: strArb, params: bytesArb }),
  fc.record({
    type: fc.constant('response' as const),
    id: idArb,
    success: fc.boolean(),
    payload: bytesArb,
    error: fc.option(strArb, { nil: null }),
  }),
  fc.record({ type: fc.constantFrom('ping' as const, 'pong' as const), id: idArb, timestampMs: tsArb }),
  fc.record({ type: fc.constant('notify' as const), id: fc.option(idArb, { nil: null }), topic: strArb, data: bytesArb }),
  fc.record({ type: fc.constant('shutdown' as const), reason: fc.option(strArb, { nil: null }) }),
);

describe('dcc-mcp envelope: round trips', () => {
  it('every envelope survives encode → decode, and a generic MessagePack decoder agrees', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const frame = encodeDccMcp(m);
        expect(frame.readUInt32BE(0)).toBe(frame.length - HEADER_SIZE);
        expect(decodeDccMcpFrame(frame)).toEqual(m);
        // What msgpackr reads from our bytes: the same positional array, byte fields as integer arrays.
        const generic = payloadOf(frame) as unknown[];
        expect(generic[0]).toBe(m.type);
        if (m.type === 'request') expect(generic[3]).toEqual([...m.params]);
        if (m.type === 'ping' || m.type === 'pong') expect(generic[2]).toBe(m.timestampMs);
      }),
      { numRuns: 500 },
    );
  });

  it('large fields take the wider headers (str 8/16/32, array 16/32) and survive', () => {
    for (const n of [15, 16, 31, 32, 255, 256, 65_535, 65_536, 200_000]) {
      const params = Buffer.alloc(n, 0xab);
      const method = 'm'.repeat(n);
      const m: DccMcpMessage = { type: 'request', id: ID, method, params };
      const frame = encodeDccMcp(m);
      expect(decodeDccMcpFrame(frame)).toEqual(m);
    }
  });

  it('every byte value 0..255 in a byte field', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const m: DccMcpMessage = { type: 'response', id: ID, success: true, payload: all, error: null };
    expect(decodeDccMcpFrame(encodeDccMcp(m))).toEqual(m);
  });

  it('a FrameDecoder configured with the dcc-mcp element limit delivers big frames, split anywhere', () => {
    const m: DccMcpMessage = { type: 'notify', id: newEnvelopeId(), topic: 'scene.changed', data: Buffer.alloc(300_000, 7) };
    const frame = encodeDccMcp(m);
    const got: DccMcpMessage[] = [];
    const decoder = new FrameDecoder((s, a, b) => got.push(dccMcpDialect.decodeScanned(s, a, b)), {
      maxMessageElements: dccMcpMaxElements(frame.length),
    });
    for (let at = 0; at < frame.length; at += 65_536) decoder.push(frame.subarray(at, at + 65_536));
    expect(got).toEqual([m]);
  });

  it('ids: hyphenated lowercase out, any case in', () => {
    expect(bytesToUuid(uuidToBytes(ID.toUpperCase()))).toBe(ID);
    expect(newEnvelopeId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

// --------------------------------------------------------------------------- quirks

describe('dcc-mcp envelope: the quirks', () => {
  it('ids are written as bin 8 of length 16', () => {
    const frame = encodeDccRequest(ID, 'x', Buffer.alloc(0));
    const payload = payloadOf(frame) as unknown[];
    expect(payload[1]).toBeInstanceOf(Uint8Array);
    expect(spaced(frame.subarray(HEADER_SIZE + 1 + 8, HEADER_SIZE + 1 + 8 + 18))).toBe(U);
  });

  it('byte fields are written as arrays of integers, never bin', () => {
    const data = Buffer.from([0, 0x7f, 0x80, 0xff]);
    for (const frame of [
      encodeDccRequest(ID, 'm', data),
      encodeDccResponse(ID, true, data, null),
      encodeDccNotify(ID, 't', data),
    ]) {
      const payload = payloadOf(frame) as unknown[];
      const field = payload[3];
      expect(Array.isArray(field)).toBe(true);
      expect(field).toEqual([0, 0x7f, 0x80, 0xff]);
      // 94 00 7f cc 80 cc ff: positive fixints below 0x80, uint 8 above.
      expect(spaced(frame)).toContain('94 00 7f cc 80 cc ff');
    }
  });

  it('byte fields arriving as bin are accepted too', () => {
    const id = uuidToBytes(ID);
    const data = Buffer.from('{"action":"run"}');
    expect(decodeDccMcpFrame(packFrame(['request', id, 'exec', data]))).toEqual({ type: 'request', id: ID, method: 'exec', params: data });
    expect(decodeDccMcpFrame(packFrame(['response', id, true, data, null]))).toEqual({
      type: 'response',
      id: ID,
      success: true,
      payload: data,
      error: null,
    });
    expect(decodeDccMcpFrame(packFrame(['notify', null, 't', data]))).toEqual({ type: 'notify', id: null, topic: 't', data });
    // A big bin is decoded in place (a view) rather than from the small-frame copy: same content.
    const big = Buffer.alloc(10_000, 3);
    expect(decodeDccMcpFrame(packFrame(['request', id, 'exec', big]))).toMatchObject({ params: big });
  });

  it('nil is never omitted: error, notify id and shutdown reason are written as c0', () => {
    expect(spaced(encodeDccResponse(ID, true, Buffer.from([1]), null)).endsWith('91 01 c0')).toBe(true);
    expect((payloadOf(encodeDccResponse(ID, true, Buffer.alloc(0), null)) as unknown[]).length).toBe(5);
    expect((payloadOf(encodeDccNotify(null, 't', Buffer.alloc(0))) as unknown[])[1]).toBeNull();
    expect((payloadOf(encodeDccShutdown(null)) as unknown[]).length).toBe(2);
  });

  it('timestamps take the smallest unsigned encoding, as rmp-serde and Python msgpack write them', () => {
    const tail = (ts: number): string => spaced(encodeDccPing(ID, ts)).slice(spaced(encodeDccPing(ID, 0)).length - 2);
    expect(tail(0)).toBe('00');
    expect(tail(0x7f)).toBe('7f');
    expect(tail(0x80)).toBe('cc 80');
    expect(tail(0x100)).toBe('cd 01 00');
    expect(tail(0x1_0000)).toBe('ce 00 01 00 00');
    expect(tail(0x1_0000_0000)).toBe('cf 00 00 00 01 00 00 00 00');
  });
});

// ------------------------------------------------------------------------ malformed

describe('dcc-mcp envelope: malformed envelopes throw ProtocolError', () => {
  const id = uuidToBytes(ID);
  const cases: [string, unknown, RegExp][] = [
    ['not an array', { type: 'request' }, /not a dcc-mcp envelope/],
    ['an empty array', [], /not a dcc-mcp envelope/],
    ['a native message', [16, 1, 'm', null, null], /not a dcc-mcp envelope/],
    ['an unknown type', ['reqest', id, 'm', []], /unknown dcc-mcp envelope type "reqest"/],
    ['a request with 3 elements', ['request', id, 'm'], /"request" envelope: expected 4 elements, got 3/],
    ['a request with 5 elements', ['request', id, 'm', [], null], /expected 4 elements, got 5/],
    ['an id of 15 bytes', ['request', id.subarray(0, 15), 'm', []], /id must be bin of 16 bytes \(a UUID\), got 15 bytes/],
    ['an id as a string', ['request', ID, 'm', []], /id must be bin of 16 bytes/],
    ['an id as an integer array', ['ping', [...id], 1], /id must be bin of 16 bytes \(a UUID\), got an array of 16/],
    ['a method that is not a string', ['request', id, 7, []], /method must be a string, got number 7/],
    ['params with 256', ['request', id, 'm', [1, 256]], /params\[1\] must be an integer 0-255, got number 256/],
    ['params with -1', ['request', id, 'm', [-1]], /params\[0\] must be an integer 0-255/],
    ['params with 1.5', ['request', id, 'm', [1.5]], /params\[0\] must be an integer 0-255/],
    ['params with a string', ['request', id, 'm', ['a']], /params\[0\] must be an integer 0-255/],
    ['params as a string', ['request', id, 'm', 'abc'], /params must be an array of integers 0-255 \(or bin\)/],
    ['params nil', ['request', id, 'm', null], /params must be an array of integers/],
    ['success as 0', ['response', id, 0, [], null], /success must be a boolean, got number 0/],
    ['error as a number', ['response', id, false, [], 5], /error must be a string or nil/],
    ['a response without its error', ['response', id, true, []], /expected 5 elements, got 4/],
    ['a negative timestamp', ['ping', id, -1], /timestamp_ms must be a non-negative integer/],
    ['a float timestamp', ['pong', id, 1.5], /timestamp_ms must be a non-negative integer/],
    ['a timestamp string', ['ping', id, '1'], /timestamp_ms must be a non-negative integer/],
    ['a notify whose nil id was omitted', ['notify', 't', []], /expected 4 elements, got 3/],
    ['a notify topic nil', ['notify', null, null, []], /topic must be a string, got nil/],
    ['a shutdown reason as a number', ['shutdown', 1], /reason must be a string or nil/],
    ['a shutdown without reason', ['shutdown'], /expected 2 elements, got 1/],
  ];
  for (const [name, value, message] of cases) {
    it(name, () => {
      const frame = packFrame(value);
      expect(() => decodeDccMcpFrame(frame)).toThrow(ProtocolError);
      expect(() => decodeDccMcpFrame(frame)).toThrow(message);
      expect(() => dccMcpDialect.decodeScanned(frame, HEADER_SIZE, frame.length)).toThrow(message);
    });
  }

  it('broken MessagePack and framing', () => {
    const good = hex(VECTORS[0]!.bytes);
    expect(() => decodeDccMcpFrame(good.subarray(0, good.length - 1))).toThrow(/length prefix says 37 bytes, the frame holds 36/);
    expect(() => decodeDccMcp(good, HEADER_SIZE, good.length - 1)).toThrow(ProtocolError);
    expect(() => decodeDccMcp(Buffer.concat([good.subarray(HEADER_SIZE), Buffer.from([0xc0])]))).toThrow(ProtocolError);
    expect(() => decodeDccMcp(Buffer.alloc(0))).toThrow(/empty frame/);
    expect(() => decodeDccMcpFrame(Buffer.from([0, 0]))).toThrow(/shorter than its length prefix/);
    expect(() => decodeDccMcp(Buffer.from([0x92, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xc1]))).toThrow(ProtocolError);
  });

  it('the encoder refuses what it cannot write', () => {
    expect(() => encodeDccRequest('not-a-uuid', 'm', Buffer.alloc(0))).toThrow(ProtocolError);
    expect(() => encodeDccPing(ID, -1)).toThrow(ProtocolError);
    expect(() => encodeDccPing(ID, 1.5)).toThrow(ProtocolError);
    expect(() => encodeDccMcp({ type: 'hello' } as unknown as DccMcpMessage)).toThrow(/unknown dcc-mcp envelope type "hello"/);
  });
});

// ------------------------------------------------------------------------ detection

describe('detectDialect: the first frame of a connection', () => {
  const payload = (frame: Buffer): Buffer => frame.subarray(HEADER_SIZE);
  const hello = encodeHello({ protocol: 'wirecall', versions: [1], peerName: 'c', peerVersion: '1', maxFrameSize: 1024, heartbeatMs: 5000 });

  it('a native HELLO is wirecall', () => {
    expect(detectDialect(payload(hello))).toBe('wirecall');
    expect(detectDialect(hello, HEADER_SIZE, hello.length)).toBe('wirecall');
    expect(nativeDialect.decode(payload(hello))[0]).toBe(1);
  });

  it('every dcc-mcp envelope is dcc-mcp (no handshake: any may come first)', () => {
    for (const v of VECTORS) expect(detectDialect(payload(hex(v.bytes))), v.name).toBe('dcc-mcp');
    // Type strings in str 8/16/32 form and an array 16 header, as other writers may produce.
    expect(detectDialect(Buffer.from([0x92, 0xd9, 0x08, ...Buffer.from('shutdown'), 0xc0]))).toBe('dcc-mcp');
    expect(detectDialect(Buffer.from([0xdc, 0x00, 0x02, 0xa8, ...Buffer.from('shutdown'), 0xc0]))).toBe('dcc-mcp');
    expect(detectDialect(Buffer.from([0x91, 0xda, 0x00, 0x00]))).toBe('dcc-mcp');
  });

  it('the integer 1 in any width is a HELLO', () => {
    for (const head of [[0xcc, 1], [0xcd, 0, 1], [0xce, 0, 0, 0, 1], [0xcf, 0, 0, 0, 0, 0, 0, 0, 1], [0xd0, 1], [0xd3, 0, 0, 0, 0, 0, 0, 0, 1]]) {
      expect(detectDialect(Buffer.from([0x92, ...head, 0x80])), head.join(',')).toBe('wirecall');
    }
    expect(detectDialect(Buffer.from([0x92, 0xcd, 1, 1, 0x80]))).toBeNull();
  });

  it('anything else is neither', () => {
    expect(detectDialect(payload(encodeCall(1, 'm', null, null)))).toBeNull(); // native, but not HELLO
    expect(detectDialect(payload(encodePing(1)))).toBeNull();
    expect(detectDialect(payload(encodeNotify('t', 1)))).toBeNull();
    expect(detectDialect(payload(packFrame({ type: 'request' })))).toBeNull(); // a map
    expect(detectDialect(payload(packFrame([])))).toBeNull();
    expect(detectDialect(Buffer.from([0xdc, 0, 0]))).toBeNull();
    expect(detectDialect(Buffer.from([0x92]))).toBeNull(); // truncated
    expect(detectDialect(Buffer.from([0x92, 0xcd, 0]))).toBeNull();
    expect(detectDialect(Buffer.alloc(0))).toBeNull();
    expect(detectDialect(Buffer.from([0xc0]))).toBeNull();
    expect(detectDialect(Buffer.from([0x92, 0xc0, 0xc0]))).toBeNull();
  });
});
