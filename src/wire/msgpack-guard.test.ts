import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { InvalidOption, ProtocolError } from '../errors.js';
import { FrameDecoder, HEADER_SIZE } from './frame-decoder.js';
import { decodeScanned, packFrame, unpackPayload } from './msgpack.js';
import {
  DEFAULT_MAX_MESSAGE_DEPTH,
  DEFAULT_MAX_MESSAGE_ELEMENTS,
  MAX_MESSAGE_LIMIT,
  MessagePackGuard,
  checkPayload,
} from './msgpack-guard.js';
import { nativeDialect } from './native.js';

// ------------------------------------------------------------------ helpers

/** Bytes from hex, spaces allowed. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

interface Limits {
  elements?: number;
  depth?: number;
}

/** 'ok', or the message of the ProtocolError the guard throws for the whole payload. */
function verdict(payload: Uint8Array, limits: Limits = {}): string {
  try {
    new MessagePackGuard().check(
      payload,
      0,
      payload.length,
      limits.elements ?? DEFAULT_MAX_MESSAGE_ELEMENTS,
      limits.depth ?? DEFAULT_MAX_MESSAGE_DEPTH,
    );
    return 'ok';
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return err.message;
  }
}

/**
 * The same payload fed in pieces that end at `cuts`, as FrameDecoder feeds a frame that
 * arrives split: the buffer holds every byte up to the current end. Also returns how many
 * bytes had been fed when the guard threw.
 */
function splitVerdict(payload: Uint8Array, cuts: readonly number[], limits: Limits = {}): { verdict: string; fed: number } {
  const guard = new MessagePackGuard();
  guard.begin(0, limits.elements ?? DEFAULT_MAX_MESSAGE_ELEMENTS, limits.depth ?? DEFAULT_MAX_MESSAGE_DEPTH);
  const ends = [...new Set(cuts.map((c) => 1 + (c % payload.length)))].sort((a, b) => a - b);
  if (ends[ends.length - 1] !== payload.length) ends.push(payload.length);
  for (const end of ends) {
    try {
      guard.advance(payload, end, end === payload.length);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return { verdict: err.message, fed: end };
    }
  }
  return { verdict: 'ok', fed: payload.length };
}

function payloadOf(value: unknown): Buffer {
  return Buffer.from(packFrame(value).subarray(HEADER_SIZE));
}

/** A frame: 4-byte length, then the payload. */
function frameOf(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

/** A container header with its count in the widest form: array 32 or map 32. */
function header32(type: 0xdd | 0xdf, count: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = type;
  b.writeUInt32BE(count, 1);
  return b;
}

/** `depth` arrays nested in each other around `inner`: [[…[inner]…]]. */
function nested(depth: number, inner: Buffer = Buffer.alloc(0), open = 0x91): Buffer {
  return Buffer.concat([Buffer.alloc(depth, open), inner]);
}

const TRUNCATED = 'undecodable MessagePack payload: truncated MessagePack';
const TRAILING = 'undecodable MessagePack payload: trailing bytes after the MessagePack value';

// ------------------------------------------------------------------ acceptance

describe('MessagePackGuard accepts every standard type family', () => {
  const accepted: Array<[string, string]> = [
    ['nil, false, true', '93 c0 c2 c3'],
    ['positive and negative fixint', '94 00 7f e0 ff'],
    ['uint 8/16/32/64', '94 cc ff cd ff ff ce ff ff ff ff cf ff ff ff ff ff ff ff ff'],
    ['int 8/16/32/64', '94 d0 80 d1 80 00 d2 80 00 00 00 d3 80 00 00 00 00 00 00 00'],
    ['float 32/64', '92 ca 3f 80 00 00 cb 3f f0 00 00 00 00 00 00'],
    ['fixstr, empty and 31 bytes', `92 a0 bf ${'61'.repeat(31)}`],
    ['str 8/16/32', '93 d9 01 61 da 00 01 62 db 00 00 00 01 63'],
    ['bin 8/16/32', '93 c4 01 01 c5 00 01 02 c6 00 00 00 01 03'],
    ['empty bin and str of every width', '96 c4 00 c5 00 00 c6 00 00 00 00 d9 00 da 00 00 db 00 00 00 00'],
    ['fixarray, array 16, array 32', '93 90 dc 00 01 01 dd 00 00 00 01 02'],
    ['fixmap, map 16, map 32', '93 81 a1 61 01 de 00 01 a1 62 02 df 00 00 00 01 a1 63 03'],
    ['empty containers of every width', '96 90 dc 00 00 dd 00 00 00 00 80 de 00 00 df 00 00 00 00'],
    ['timestamp 32 (fixext 4, type -1)', 'd6 ff 00 00 00 01'],
    ['timestamp 64 (fixext 8, type -1)', 'd7 ff 00 3d 09 00 00 00 00 00'],
    ['timestamp 96 (ext 8, 12 bytes, type -1)', 'c7 0c ff 00 0f 42 40 ff ff ff ff ff ff ff ff'],
    ['a map with non-string keys', '82 01 02 c0 c3'],
    ['a lone scalar', '2a'],
    ['a bin holding 0xc1 and ext-looking bytes', 'c4 04 c1 d4 72 40'],
    ['a str holding 0xc1', 'a2 c1 c1'],
  ];
  for (const [name, bytes] of accepted) {
    it(name, () => {
      expect(verdict(hex(bytes))).toBe('ok');
      expect(() => unpackPayload(hex(bytes))).not.toThrow();
    });
  }

  it('decodes the three timestamp forms to Dates', () => {
    expect(unpackPayload(hex('d6 ff 00 00 00 01'))).toEqual(new Date(1000));
    expect(unpackPayload(payloadOf(new Date(1)))).toEqual(new Date(1)); // timestamp 64
    expect(unpackPayload(payloadOf(new Date(-1)))).toEqual(new Date(-1)); // timestamp 96
    expect(payloadOf(new Date(-1))[0]).toBe(0xc7);
  });

  it('skips str and bin bodies without reading them: a 16 MiB bin is one element', () => {
    const size = 16 * 1024 * 1024;
    const bin = Buffer.concat([hex('c6'), Buffer.from([size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff]), Buffer.alloc(size, 0xc1)]);
    const started = performance.now();
    expect(verdict(bin, { elements: 1, depth: 1 })).toBe('ok');
    expect(performance.now() - started).toBeLessThan(50);
  });
});

// ------------------------------------------------------------------ rejection

describe('MessagePackGuard rejects', () => {
  it('the reserved byte 0xc1, at top level and nested', () => {
    for (const bytes of ['c1', '91 c1', '81 a1 61 c1', '81 c1 01', '92 01 c1']) {
      expect(verdict(hex(bytes))).toBe('undecodable MessagePack payload: reserved byte 0xc1');
    }
  });

  it('every extension type but the timestamp, in every ext form', () => {
    const rejected: Array<[string, string]> = [
      ['d4 00 00', 'extension type 0 is not allowed (only the timestamp extension, -1)'], // msgpackr: undefined
      ['d4 05 00', 'extension type 5 is not allowed (only the timestamp extension, -1)'],
      ['d4 72 40 92 a1 61 a1 62 01 02', 'extension type 114 is not allowed (only the timestamp extension, -1)'], // 'r' record
      ['d6 70 00 00 00 01', 'extension type 112 is not allowed (only the timestamp extension, -1)'], // 'p' pointer
      ['d6 69 00 00 00 01 90', 'extension type 105 is not allowed (only the timestamp extension, -1)'], // 'i' id
      ['d4 73 00 91 01', 'extension type 115 is not allowed (only the timestamp extension, -1)'], // 's' Set
      ['d4 78 00 92 a1 61 a1 67', 'extension type 120 is not allowed (only the timestamp extension, -1)'], // 'x' RegExp
      ['d4 65 00 92 a1 45 a1 6d', 'extension type 101 is not allowed (only the timestamp extension, -1)'], // 'e' Error
      ['c7 09 74 08 00 00 00 00 00 00 f0 3f', 'extension type 116 is not allowed (only the timestamp extension, -1)'], // 't' typed array
      ['d8 42 00 00 00 00 00 00 00 40 00 00 00 00 00 00 00 00', 'extension type 66 is not allowed (only the timestamp extension, -1)'], // 'B' BigInt
      ['d6 62 00 00 00 08', 'extension type 98 is not allowed (only the timestamp extension, -1)'], // 'b' bundled strings
      ['d5 01 00 00', 'extension type 1 is not allowed (only the timestamp extension, -1)'],
      ['c7 00 05', 'extension type 5 is not allowed (only the timestamp extension, -1)'], // ext 8
      ['c8 00 01 7f 00', 'extension type 127 is not allowed (only the timestamp extension, -1)'], // ext 16
      ['c9 00 00 00 01 80 00', 'extension type -128 is not allowed (only the timestamp extension, -1)'], // ext 32
      ['d4 ff ff', 'timestamp extension (-1) of length 1 is not allowed (only 4, 8 or 12)'], // msgpackr's invalid Date
      ['d5 ff 00 00', 'timestamp extension (-1) of length 2 is not allowed (only 4, 8 or 12)'],
      ['d8 ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00', 'timestamp extension (-1) of length 16 is not allowed (only 4, 8 or 12)'],
      ['c7 04 ff 00 00 00 01', 'timestamp extension (-1) of length 4 is not allowed (only 4, 8 or 12)'], // ext 8 is for 12
      ['c8 00 0c ff 00 00 00 00 00 00 00 00 00 00 00 00', 'timestamp extension (-1) of length 12 is not allowed (only 4, 8 or 12)'],
      ['c9 00 00 00 0c ff 00 00 00 00 00 00 00 00 00 00 00 00', 'timestamp extension (-1) of length 12 is not allowed (only 4, 8 or 12)'],
    ];
    for (const [bytes, message] of rejected) {
      expect(verdict(hex(bytes)), bytes).toBe(message);
      // Nested too, and through unpackPayload.
      expect(verdict(hex(`92 01 ${bytes}`)), bytes).toBe(message);
      expect(() => unpackPayload(hex(`91 ${bytes}`)), bytes).toThrow(message);
    }
  });

  it('an extension as soon as its type byte is in, before its data', () => {
    // ext 32 announcing 4 GiB of data: the type is enough to refuse it.
    expect(verdict(hex('c9 ff ff ff ff 05'))).toBe('extension type 5 is not allowed (only the timestamp extension, -1)');
  });

  it('truncated values, headers and bodies', () => {
    const truncated = [
      '92', '92 01', 'a5 61 62', 'd9', 'd9 05 61', 'da 00', 'da 00 05 61', 'db 00 00 00', 'db 00 00 00 05 61',
      'c4', 'c4 02 01', 'c5 00', 'c6 00 00 00 02 01', 'cc', 'cd 00', 'ce 00 00 00', 'cf 00', 'd0', 'd1 00', 'd2 00',
      'd3 00', 'ca 00', 'cb 00 00', 'dc 00', 'dc 00 01', 'dd 00 00 00', 'dd 00 00 00 01', 'de 00', 'de 00 01 a1 61',
      'df 00 00 00 01 01', '81', '81 a1 61', 'd6', 'd6 ff', 'd6 ff 00 00 00', 'd7 ff 00', 'c7', 'c7 0c', 'c7 0c ff 00',
      '91 91 91', '92 90 91',
    ];
    for (const bytes of truncated) expect(verdict(hex(bytes)), bytes).toBe(TRUNCATED);
  });

  it('trailing bytes after the one value', () => {
    for (const bytes of ['01 02', '90 90', '92 01 02 03', 'a1 61 00', 'c4 01 01 c1', 'd6 ff 00 00 00 01 00', '81 01 02 01']) {
      expect(verdict(hex(bytes)), bytes).toBe(TRAILING);
    }
  });

  it('an empty payload', () => {
    expect(verdict(Buffer.alloc(0))).toBe('empty frame');
    expect(() => unpackPayload(Buffer.alloc(0))).toThrow('empty frame');
  });
});

// ------------------------------------------------------------------ limits

describe('MessagePackGuard limits', () => {
  it('counts every value as one element: scalars, containers, keys and values', () => {
    const cases: Array<[unknown, number]> = [
      [1, 1],
      ['x', 1],
      [Buffer.alloc(100), 1],
      [[], 1],
      [{}, 1],
      [[1, 'a'], 3],
      [{ a: 1 }, 3],
      [{ a: [1, 2] }, 5],
      [[[[]]], 3],
      [[16, 1, 'echo', [1, 2], null], 8],
      [{ a: { b: { c: null } }, d: new Date(5) }, 9],
    ];
    for (const [value, elements] of cases) {
      const payload = payloadOf(value);
      expect(verdict(payload, { elements }), JSON.stringify(value)).toBe('ok');
      if (elements > 1) {
        expect(verdict(payload, { elements: elements - 1 }), JSON.stringify(value)).toBe(
          `message holds more than ${elements - 1} elements (limit maxMessageElements)`,
        );
      }
    }
  });

  it('accepts exactly maxMessageElements and rejects one more, in arrays, maps and nested', () => {
    const limit = 1000;
    const shapes: Array<(n: number) => Buffer> = [
      // an array of n - 1 fixints: n elements
      (n) => Buffer.concat([header32(0xdd, n - 1), Buffer.alloc(n - 1, 1)]),
      // an array of k one-key maps ({"a": 0}: 3 elements each), padded with fixints
      (n) => {
        const maps = Math.floor((n - 1) / 3);
        const pad = n - 1 - 3 * maps;
        return Buffer.concat([header32(0xdd, maps + pad), ...Array.from({ length: maps }, () => hex('81 a1 61 00')), Buffer.alloc(pad, 2)]);
      },
      // one map: 1 + 2 × entries, plus a wrapping array to land on n exactly
      (n) => {
        const entries = Math.floor((n - 2) / 2);
        const pad = n - 2 - 2 * entries;
        const body = [header32(0xdf, entries)];
        for (let i = 0; i < entries; i++) body.push(Buffer.from([0xa2, 0x61 + (i % 26), 0x61 + Math.floor(i / 26) % 26, 0]));
        return Buffer.concat([header32(0xdd, 1 + pad), ...body, Buffer.alloc(pad, 3)]);
      },
    ];
    for (const shape of shapes) {
      expect(verdict(shape(limit), { elements: limit })).toBe('ok');
      expect(verdict(shape(limit + 1), { elements: limit })).toBe(`message holds more than ${limit} elements (limit maxMessageElements)`);
    }
  });

  it('rejects a header that declares more elements than are left, before reading them', () => {
    // array 32 of 2^32 - 1 elements, with none of them sent
    expect(verdict(hex('dd ff ff ff ff'))).toBe(`message holds more than ${DEFAULT_MAX_MESSAGE_ELEMENTS} elements (limit maxMessageElements)`);
    expect(verdict(hex('df ff ff ff ff'))).toBe(`message holds more than ${DEFAULT_MAX_MESSAGE_ELEMENTS} elements (limit maxMessageElements)`);
    expect(verdict(hex('dd 00 00 00 04 01'), { elements: 4 })).toMatch(/more than 4 elements/);
  });

  it('accepts nesting of exactly maxMessageDepth and rejects one more level', () => {
    const limit = DEFAULT_MAX_MESSAGE_DEPTH;
    expect(verdict(nested(limit, hex('01')))).toBe('ok');
    expect(verdict(nested(limit - 1, hex('90')))).toBe('ok'); // the innermost, empty array is level 64
    expect(verdict(nested(limit, hex('90')))).toBe(`message nests deeper than ${limit} (limit maxMessageDepth)`);
    expect(verdict(nested(limit + 1, hex('01')))).toBe(`message nests deeper than ${limit} (limit maxMessageDepth)`);
    // maps count the same: {"a": {"a": … 1}}
    const mapNest = (depth: number): Buffer => Buffer.concat([...Array.from({ length: depth }, () => hex('81 a1 61')), hex('01')]);
    expect(verdict(mapNest(limit))).toBe('ok');
    expect(verdict(mapNest(limit + 1))).toMatch(/nests deeper than 64/);
    // other limits, every container width
    expect(verdict(hex('dc 00 01 de 00 01 01 dd 00 00 00 00'), { depth: 3 })).toBe('ok');
    expect(verdict(hex('dc 00 01 de 00 01 01 df 00 00 00 00'), { depth: 2 })).toMatch(/nests deeper than 2/);
    expect(verdict(hex('01'), { depth: 1 })).toBe('ok');
    expect(verdict(hex('90'), { depth: 1 })).toBe('ok');
    expect(verdict(hex('91 90'), { depth: 1 })).toMatch(/nests deeper than 1/);
  });

  it('handles deep limits: nesting of 10 000 levels when allowed', () => {
    expect(verdict(nested(10_000, hex('c0')), { depth: 10_000, elements: 20_000 })).toBe('ok');
    expect(verdict(nested(10_001, hex('c0')), { depth: 10_000, elements: 20_000 })).toMatch(/nests deeper than 10000/);
  });
});

// ------------------------------------------------------------------ hostile frames

describe('hostile frames built with msgpackr private extensions', () => {
  const cyclic = (): Buffer => {
    const o: Record<string, unknown> = { a: 1 };
    o['self'] = o;
    return new Packr({ structuredClone: true }).pack(o);
  };
  /** 26 levels of [x, x]: 336 bytes that msgpackr decodes into a DAG of 2^26 leaves. */
  const dag = (): Buffer => {
    let x: unknown = 'leaf';
    for (let i = 0; i < 26; i++) x = [x, x];
    return new Packr({ structuredClone: true }).pack(x);
  };
  const records = (): Buffer => new Packr({ useRecords: true }).pack([{ a: 1, b: 2 }, { a: 3, b: 4 }]);

  for (const [name, build, type] of [
    ['a cyclic structure (structured clone: ids and pointers)', cyclic, 105],
    ['a DAG of 2^26 leaves from shared references', dag, 105],
    ['msgpackr records', records, 114],
  ] as const) {
    it(`rejects ${name}, through unpackPayload and FrameDecoder, quickly`, () => {
      const payload = build();
      expect(payload.length).toBeLessThan(400);
      const message = `extension type ${type} is not allowed (only the timestamp extension, -1)`;
      const started = performance.now();
      expect(() => unpackPayload(payload)).toThrow(message);
      const frames: unknown[] = [];
      const decoder = new FrameDecoder((s, a, b) => frames.push(nativeDialect.decode(s, a, b)));
      expect(() => decoder.push(frameOf(payload))).toThrow(message);
      expect(frames).toHaveLength(0);
      expect(() => decoder.push(frameOf(hex('92 30 00')))).toThrow(/stopped/);
      expect(performance.now() - started).toBeLessThan(50);
    });
  }

  it('a frame of 2 million tiny map keys is rejected from its header', () => {
    // {"a": 0, "b": 0, …} as one map 32: ~8 MB, under the 16 MiB frame limit.
    const entries = 2_000_000;
    const payload = Buffer.alloc(5 + entries * 4);
    header32(0xdf, entries).copy(payload, 0);
    for (let i = 0, at = 5; i < entries; i++, at += 4) {
      payload[at] = 0xa2;
      payload[at + 1] = 0x61 + (i % 26);
      payload[at + 2] = 0x61 + (Math.floor(i / 26) % 26);
      payload[at + 3] = 0;
    }
    const frame = frameOf(payload);
    const decoder = new FrameDecoder(() => {
      throw new Error('no frame expected');
    });
    expect(() => decoder.push(frame.subarray(0, 64 * 1024))).toThrow(/more than 100000 elements/);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('a frame of 2 million tiny keys in many maps is rejected after a prefix when fed in chunks', () => {
    // An array of 2000 maps of 1000 keys: no single header crosses the limit; the
    // running count does, ~50 maps in. Fed in 64 KiB chunks, the decoder must throw
    // long before the last chunk of the ~8 MB frame.
    const maps = 2000;
    const keys = 1000;
    const map = Buffer.alloc(3 + keys * 4);
    map[0] = 0xde;
    map.writeUInt16BE(keys, 1);
    for (let i = 0, at = 3; i < keys; i++, at += 4) map.set([0xa2, 0x61 + (i % 26), 0x61 + Math.floor(i / 26), 0], at);
    const payload = Buffer.concat([header32(0xdd, maps), ...Array.from({ length: maps }, () => map)]);
    const frame = frameOf(payload);
    const chunk = 64 * 1024;
    const chunks = Math.ceil(frame.length / chunk);
    const decoder = new FrameDecoder(() => {
      throw new Error('no frame expected');
    });
    let threwAt = -1;
    const started = performance.now();
    for (let i = 0; i < chunks; i++) {
      try {
        decoder.push(frame.subarray(i * chunk, (i + 1) * chunk));
      } catch (err) {
        expect(err).toBeInstanceOf(ProtocolError);
        expect((err as Error).message).toBe(`message holds more than ${DEFAULT_MAX_MESSAGE_ELEMENTS} elements (limit maxMessageElements)`);
        threwAt = i;
        break;
      }
    }
    const elapsed = performance.now() - started;
    // 100 000 elements are ~50 maps of 4003 bytes: about 200 KB, the 4th chunk.
    expect(threwAt).toBeGreaterThan(0);
    expect(threwAt).toBeLessThan(5);
    expect(threwAt).toBeLessThan(chunks - 1);
    expect(elapsed).toBeLessThan(100);
    // the same frame whole: rejected in one call
    expect(() => new FrameDecoder(() => {}).push(frame)).toThrow(/more than 100000 elements/);
  });
});

// ------------------------------------------------------------------ split anywhere

/** Values of every kind, Dates included (timestamps 32, 64 and 96). */
const anyValue = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.integer({ min: -40, max: 200 }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.double(),
    fc.string({ maxLength: 40 }),
    fc.string({ minLength: 200, maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
    fc.date({ noInvalidDate: true }),
  ),
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 8 }),
  object: fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 8 }),
})).value;

/** Payloads: valid encodings, and some broken ones (bytes changed, cut or appended). */
const anyPayload = fc.oneof(
  { weight: 3, arbitrary: anyValue.map(payloadOf) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(anyValue.map(payloadOf), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'append'))
      .map(([payload, at, byte, how]) => {
        const i = at % payload.length;
        if (how === 'cut') return payload.subarray(0, Math.max(1, i));
        if (how === 'append') return Buffer.concat([payload, Buffer.from([byte])]);
        const copy = Buffer.from(payload);
        copy[i] = byte;
        return copy;
      }),
  },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((u) => Buffer.from(u)) },
);

describe('MessagePackGuard split anywhere', () => {
  it('property: the verdict for a payload fed in pieces is the verdict for it whole', () => {
    fc.assert(
      fc.property(
        anyPayload,
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom(undefined, 1, 5, 20),
        fc.constantFrom(undefined, 1, 2, 3),
        (payload, cuts, elements, depth) => {
          const limits = { elements, depth };
          const whole = verdict(payload, limits);
          expect(splitVerdict(payload, cuts, limits).verdict).toBe(whole);
          // byte by byte, too
          expect(splitVerdict(payload, Array.from(payload.keys()), limits).verdict).toBe(whole);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('property: every valid value passes, whole and split, and decodes', () => {
    fc.assert(
      fc.property(anyValue, fc.array(fc.nat(), { maxLength: 12 }), (value, cuts) => {
        const payload = payloadOf(value);
        expect(verdict(payload)).toBe('ok');
        expect(splitVerdict(payload, cuts).verdict).toBe('ok');
        expect(() => unpackPayload(payload)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('property: FrameDecoder gives the same verdict, whatever the chunking', () => {
    fc.assert(
      fc.property(anyPayload, fc.array(fc.nat(), { maxLength: 12 }), (payload, cuts) => {
        const whole = verdict(payload);
        const stream = Buffer.concat([frameOf(payload), frameOf(hex('92 30 01'))]);
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const delivered: Buffer[] = [];
        const decoder = new FrameDecoder((s, a, b) => delivered.push(Buffer.from(s.subarray(a, b))));
        let error = 'ok';
        let start = 0;
        for (const end of [...points, stream.length]) {
          if (end <= start) continue;
          try {
            decoder.push(stream.subarray(start, end));
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError);
            error = (err as Error).message;
            break;
          }
          start = end;
        }
        expect(error).toBe(whole);
        if (whole === 'ok') {
          expect(delivered).toEqual([payload, hex('92 30 01')]);
        } else {
          expect(delivered).toEqual([]);
        }
      }),
      { numRuns: 500 },
    );
  });
});

// ------------------------------------------------------------------ FrameDecoder options and the single scan

describe('FrameDecoder message limits', () => {
  it('defaults to the exported limits and validates them', () => {
    const decoder = new FrameDecoder(() => {});
    expect(decoder.maxMessageElements).toBe(DEFAULT_MAX_MESSAGE_ELEMENTS);
    expect(decoder.maxMessageDepth).toBe(DEFAULT_MAX_MESSAGE_DEPTH);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_MESSAGE_LIMIT + 1]) {
      expect(() => new FrameDecoder(() => {}, { maxMessageElements: bad })).toThrow(InvalidOption);
      expect(() => new FrameDecoder(() => {}, { maxMessageDepth: bad })).toThrow(InvalidOption);
      expect(() => (decoder.maxMessageElements = bad)).toThrow(InvalidOption);
      expect(() => (decoder.maxMessageDepth = bad)).toThrow(InvalidOption);
    }
    expect(decoder.maxMessageElements).toBe(DEFAULT_MAX_MESSAGE_ELEMENTS);
  });

  it('delivers the frames in front of a rejected one, then stops', () => {
    const delivered: unknown[] = [];
    const decoder = new FrameDecoder((s, a, b) => delivered.push(nativeDialect.decode(s, a, b)), { maxMessageElements: 5, maxMessageDepth: 2 });
    const stream = Buffer.concat([
      packFrame([48, 1]),
      packFrame([17, 2, [1]]), // 5 elements
      packFrame([17, 3, [1, 2]]), // 6
      packFrame([48, 4]),
    ]);
    expect(() => decoder.push(stream)).toThrow('message holds more than 5 elements (limit maxMessageElements)');
    expect(delivered).toEqual([
      [48, 1],
      [17, 2, [1]],
    ]);
    expect(decoder.bufferedBytes).toBe(0);
    expect(() => decoder.push(packFrame([48, 5]))).toThrow(ProtocolError);
  });

  it('applies limits changed between pushes to the next frame; a frame under way keeps its own', () => {
    const delivered: unknown[] = [];
    const decoder = new FrameDecoder((s, a, b) => delivered.push(unpackPayload(s, a, b)), { maxMessageElements: 3 });
    const four = Buffer.from(packFrame([1, 2, 3]));
    expect(() => new FrameDecoder(() => {}, { maxMessageElements: 3 }).push(four)).toThrow(/more than 3/);
    decoder.maxMessageElements = 4;
    decoder.push(four);
    // Half a frame under the limit of 4, then the limit is lowered: that frame still passes.
    decoder.push(four.subarray(0, 6));
    decoder.maxMessageElements = 2;
    decoder.push(four.subarray(6));
    expect(delivered).toEqual([
      [1, 2, 3],
      [1, 2, 3],
    ]);
    expect(() => decoder.push(four)).toThrow(/more than 2 elements/);
  });

  it('scans each frame once: the decoder scans under its limits and decodeScanned decodes without a second scan; unpackPayload always scans, under the defaults', () => {
    // 150 000 elements: over the default limit, under this decoder's.
    const payload = Buffer.concat([header32(0xdd, 149_999), Buffer.alloc(149_999, 7)]);
    const frame = frameOf(payload);
    const decoded: unknown[] = [];
    let range: [Buffer, number, number] | undefined;
    const decoder = new FrameDecoder(
      (s, a, b) => {
        range = [s, a, b];
        decoded.push(decodeScanned(s, a, b));
      },
      { maxMessageElements: 200_000 },
    );
    decoder.push(frame);
    expect((decoded[0] as number[]).length).toBe(149_999);
    // unpackPayload scans whatever it is given, under the defaults.
    expect(() => unpackPayload(...range!)).toThrow(/more than 100000 elements/);
    expect(() => checkPayload(payload, 0, payload.length)).toThrow(/more than 100000 elements/);
    // Split across chunks, too.
    decoded.length = 0;
    decoder.push(frame.subarray(0, 1000));
    decoder.push(frame.subarray(1000));
    expect((decoded[0] as number[]).length).toBe(149_999);
  });
});
