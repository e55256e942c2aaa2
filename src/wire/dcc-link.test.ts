/**
 * The DCC-Link codec (dcc-mcp-core ≥ 0.14): the byte vectors captured from 0.20.49 (also in
 * docs/DCC-LINK.md, checked below), the channel wrapper of ipckit, the stream splitter,
 * refusals in the order and for the reasons the real decoder has, bodies, round trips.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameTooLarge, InvalidOption, ProtocolError } from '../errors.js';
import {
  DCC_LINK_MAX_BODY,
  DCC_LINK_TYPES,
  DccLinkStreamDecoder,
  IPCKIT_MAX_MESSAGE,
  dccLinkSocketPath,
  decodeDccLinkBody,
  decodeDccLinkFrame,
  decodeDccLinkJsonBody,
  encodeDccLink,
  encodeDccLinkBody,
  encodeDccLinkCall,
  encodeDccLinkCancel,
  encodeDccLinkFrame,
  encodeDccLinkPing,
  type DccLinkFrame,
  type DccLinkFrameInput,
} from './dcc-link.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const spaced = (b: Buffer): string => b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
const frame = (type: DccLinkFrame['type'], seq: bigint, body: Buffer | string = '', version: 0 | 1 = 1): DccLinkFrame => ({
  type,
  seq,
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  version,
});

/**
 * Bare frames as 0.20.49's `DccLinkFrame(...).encode()` wrote them (fixture
 * dcc_link_peer.py `encode`; the interop test checks these bytes against it again).
 */
const DCC_LINK_VECTORS: { name: string; bytes: string; frame: DccLinkFrame }[] = [
  {
    name: 'call',
    bytes: '00 00 00 14  81 01  00 00 00 00 00 00 00 01  93 a4 65 63 68 6f a2 68 69 c0',
    frame: frame('call', 1n, hex('93 a4 65 63 68 6f a2 68 69 c0')),
  },
  { name: 'reply', bytes: '00 00 00 0d  81 02  00 00 00 00 00 00 00 01  a2 68 69', frame: frame('reply', 1n, hex('a2 68 69')) },
  { name: 'err', bytes: '00 00 00 0e  81 03  00 00 00 00 00 00 00 02  62 6f 6f 6d', frame: frame('err', 2n, 'boom') },
  {
    name: 'progress',
    bytes: '00 00 00 19  81 04  00 00 00 00 00 00 00 03  82 a3 70 63 74 32 a3 6d 73 67 a4 68 61 6c 66',
    frame: frame('progress', 3n, hex('82 a3 70 63 74 32 a3 6d 73 67 a4 68 61 6c 66')),
  },
  { name: 'cancel', bytes: '00 00 00 0a  81 05  00 00 00 00 00 00 00 03', frame: frame('cancel', 3n) },
  {
    name: 'push',
    bytes:
      '00 00 00 23  81 06  00 00 00 00 00 00 00 00  7b 22 74 6f 70 69 63 22 3a 22 73 63 65 6e 65 2e 63 68 61 6e 67 65 64 22 7d',
    frame: frame('push', 0n, '{"topic":"scene.changed"}'),
  },
  { name: 'ping', bytes: '00 00 00 0a  81 07  01 02 03 04 05 06 07 08', frame: frame('ping', 0x0102030405060708n) },
  { name: 'pong', bytes: '00 00 00 0a  81 08  ff ff ff ff ff ff ff ff', frame: frame('pong', 0xffff_ffff_ffff_ffffn) },
  { name: 'legacy', bytes: '00 00 00 09  07  00 00 00 00 00 00 00 05', frame: frame('ping', 5n, '', 0) },
];

/** What IpcChannelAdapter.send_frame(DccLinkFrame(8, 9, b"ok")) wrote on its socket (fixture `facts`). */
const DCC_LINK_CHANNEL_VECTOR = {
  bytes: '10 00 00 00  00 00 00 0c  81 08  00 00 00 00 00 00 00 09  6f 6b',
  frame: frame('pong', 9n, 'ok'),
};

/** Frames the real decoder refuses, with the words of its error (fixture `decode`). */
const DCC_LINK_REFUSED: { bytes: string; peer: RegExp; ours: RegExp }[] = [
  { bytes: '00 00 00 00', peer: /frame too short/, ours: /too short/ },
  { bytes: '00 00 00 09 81', peer: /frame too short/, ours: /too short/ },
  { bytes: '00 00 00 0c 81 01 00 00 00 00 00 00 00 01 78', peer: /length mismatch: declared=12, actual=11/, ours: /says 12 bytes, 11 follow/ },
  { bytes: '00 00 00 0c 81 09 00 00 00 00 00 00 00 01 78', peer: /length mismatch/, ours: /length mismatch/ },
  { bytes: '00 00 00 09 81 01 00 00 00 00 00 00 00', peer: /versioned frame too short/, ours: /versioned DCC-Link frame of 13 bytes/ },
  { bytes: '00 00 00 0b 82 01 00 00 00 00 00 00 00 01 78', peer: /unsupported DCC-Link protocol version 2/, ours: /version 2/ },
  { bytes: '00 00 00 0b 80 01 00 00 00 00 00 00 00 01 78', peer: /unsupported DCC-Link protocol version 0/, ours: /version 0/ },
  { bytes: '00 00 00 0b ff 01 00 00 00 00 00 00 00 01 78', peer: /unsupported DCC-Link protocol version 127/, ours: /version 127/ },
  { bytes: '00 00 00 0b 81 00 00 00 00 00 00 00 00 01 78', peer: /unknown DccLinkType: 0/, ours: /unknown DCC-Link frame type 0/ },
  { bytes: '00 00 00 0b 81 09 00 00 00 00 00 00 00 01 78', peer: /unknown DccLinkType: 9/, ours: /type 9/ },
  { bytes: '00 00 00 0a 09 00 00 00 00 00 00 00 01 78', peer: /unknown DccLinkType: 9/, ours: /type 9/ },
];

const input = (f: DccLinkFrame): DccLinkFrameInput => ({ type: f.type, seq: f.seq, body: f.body, version: f.version });

describe('DCC-Link vectors (captured from dcc-mcp-core 0.20.49)', () => {
  for (const v of DCC_LINK_VECTORS) {
    it(`${v.name}: decodes, and the encoder writes the same bytes`, () => {
      expect(decodeDccLinkFrame(hex(v.bytes))).toEqual(v.frame);
      expect(spaced(encodeDccLinkFrame(input(v.frame)))).toBe(spaced(hex(v.bytes)));
      // On the channel: the same frame behind ipckit's little-endian length.
      const msg = encodeDccLink(input(v.frame));
      expect(msg.readUInt32LE(0)).toBe(hex(v.bytes).length);
      expect(spaced(msg.subarray(4))).toBe(spaced(hex(v.bytes)));
    });
  }

  it('the channel message IpcChannelAdapter wrote', () => {
    const bytes = hex(DCC_LINK_CHANNEL_VECTOR.bytes);
    expect(spaced(encodeDccLink(input(DCC_LINK_CHANNEL_VECTOR.frame)))).toBe(spaced(bytes));
    const got: DccLinkFrame[] = [];
    new DccLinkStreamDecoder((f) => got.push(f)).push(bytes);
    expect(got).toEqual([DCC_LINK_CHANNEL_VECTOR.frame]);
  });

  it('every refusal of the real decoder is a ProtocolError here, for the same reason', () => {
    for (const r of DCC_LINK_REFUSED) {
      const call = (): unknown => decodeDccLinkFrame(hex(r.bytes));
      expect(call, r.bytes).toThrow(ProtocolError);
      expect(call, r.bytes).toThrow(r.ours);
    }
  });

  it('the type codes are those of DccLinkType', () => {
    expect(DCC_LINK_TYPES).toEqual({ call: 1, reply: 2, err: 3, progress: 4, cancel: 5, push: 6, ping: 7, pong: 8 });
  });

  it('docs/DCC-LINK.md holds every vector, byte for byte', () => {
    const doc = readFileSync(new URL('../../docs/DCC-LINK.md', import.meta.url), 'utf8');
    const blocks = new Map<string, Buffer>();
    for (const m of doc.matchAll(/```hex vector:dcc-link-([a-z]+)\n([\s\S]*?)```/g)) {
      blocks.set(m[1]!, hex(m[2]!.split('\n').map((line) => line.replace(/#.*$/, '')).join(' ')));
    }
    expect([...blocks.keys()].sort()).toEqual([...DCC_LINK_VECTORS.map((v) => v.name), 'channel'].sort());
    for (const v of DCC_LINK_VECTORS) expect(spaced(blocks.get(v.name)!), v.name).toBe(spaced(hex(v.bytes)));
    expect(spaced(blocks.get('channel')!)).toBe(spaced(hex(DCC_LINK_CHANNEL_VECTOR.bytes)));
  });
});

describe('DCC-Link encoder', () => {
  it('seq: numbers and bigints up to 2^64-1; negative, fractional, unsafe or larger refused', () => {
    expect(decodeDccLinkFrame(encodeDccLinkFrame({ type: 'call', seq: 2 ** 53 - 1 })).seq).toBe(2n ** 53n - 1n);
    for (const seq of [-1, 1.5, 2 ** 53, -1n, 2n ** 64n]) {
      expect(() => encodeDccLinkFrame({ type: 'call', seq }), String(seq)).toThrow(ProtocolError);
    }
  });

  it('refuses an unknown type, version or body', () => {
    expect(() => encodeDccLink({ type: 'nope' as 'call', seq: 1 })).toThrow(/unknown DCC-Link frame type "nope"/);
    expect(() => encodeDccLink({ type: 'call', seq: 1, version: 2 as 1 })).toThrow(/unsupported DCC-Link version 2/);
    expect(() => encodeDccLink({ type: 'call', seq: 1, body: 'x' as unknown as Buffer })).toThrow(/Buffer or Uint8Array/);
  });

  it("refuses a message over ipckit's 16 MiB, accepts the largest that fits", () => {
    const largest = encodeDccLinkCall(1, Buffer.alloc(DCC_LINK_MAX_BODY));
    expect(largest.readUInt32LE(0)).toBe(IPCKIT_MAX_MESSAGE);
    expect(() => encodeDccLinkCall(1, Buffer.alloc(DCC_LINK_MAX_BODY + 1))).toThrow(/exceeds ipckit's limit of 16777216/);
  });

  it('shorthands', () => {
    const got: DccLinkFrame[] = [];
    const d = new DccLinkStreamDecoder((f) => got.push(f));
    d.push(Buffer.concat([encodeDccLinkPing(7), encodeDccLinkCancel(8n)]));
    expect(got).toEqual([frame('ping', 7n), frame('cancel', 8n)]);
  });
});

describe('DccLinkStreamDecoder', () => {
  const frames: DccLinkFrame[] = DCC_LINK_VECTORS.map((v) => v.frame);
  const stream = Buffer.concat(frames.map((f) => encodeDccLink(input(f))));

  it('splits a stream fed one byte at a time, and in random chunks', () => {
    const got: DccLinkFrame[] = [];
    const d = new DccLinkStreamDecoder((f) => got.push(f));
    for (const b of stream) d.push(Buffer.from([b]));
    expect(got).toEqual(frames);
    expect(d.pending).toBe(0);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }), (sizes) => {
        const out: DccLinkFrame[] = [];
        const dec = new DccLinkStreamDecoder((f) => out.push(f));
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = sizes[i % sizes.length]!;
          dec.push(stream.subarray(at, at + n));
          at += n;
        }
        expect(out).toEqual(frames);
      }),
    );
  });

  it('frames are copies: changing the chunk later does not change them', () => {
    const chunk = encodeDccLinkCall(1, Buffer.from('abc'));
    const got: DccLinkFrame[] = [];
    new DccLinkStreamDecoder((f) => got.push(f)).push(chunk);
    chunk.fill(0);
    expect(got[0]!.body.toString()).toBe('abc');
  });

  it('refuses an oversize message from its prefix alone, and stays stopped', () => {
    const d = new DccLinkStreamDecoder(() => {}, { maxMessageSize: 100 });
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(101);
    expect(() => d.push(prefix)).toThrow(FrameTooLarge);
    expect(() => d.push(encodeDccLinkPing(1))).toThrow(/stopped/);
    const big = Buffer.alloc(4);
    big.writeUInt32LE(IPCKIT_MAX_MESSAGE + 1);
    expect(() => new DccLinkStreamDecoder(() => {}).push(big)).toThrow(FrameTooLarge);
  });

  it('refuses a message too short for a frame, and a bad frame inside a good message', () => {
    const short = Buffer.from([5, 0, 0, 0, 0, 0, 0, 1, 7]);
    expect(() => new DccLinkStreamDecoder(() => {}).push(short)).toThrow(/ipckit message of 5 bytes cannot hold/);
    const inner = hex('00 00 00 0b 81 09 00 00 00 00 00 00 00 01 78');
    const msg = Buffer.concat([Buffer.from([inner.length, 0, 0, 0]), inner]);
    expect(() => new DccLinkStreamDecoder(() => {}).push(msg)).toThrow(/unknown DCC-Link frame type 9/);
    // The inner prefix must agree with ipckit's: one byte more in the message is a mismatch.
    const off = Buffer.concat([Buffer.from([inner.length + 1, 0, 0, 0]), inner, Buffer.from([0])]);
    expect(() => new DccLinkStreamDecoder(() => {}).push(off)).toThrow(/length mismatch/);
  });

  it('checks its option', () => {
    for (const max of [12, IPCKIT_MAX_MESSAGE + 1, 1.5]) expect(() => new DccLinkStreamDecoder(() => {}, { maxMessageSize: max })).toThrow(InvalidOption);
  });
});

describe('DCC-Link bodies', () => {
  it('MessagePack bodies through the scanner; empty is undefined', () => {
    const value = { method: 'echo', params: [1, 'two', null, { x: true }] };
    const f = decodeDccLinkFrame(encodeDccLinkFrame({ type: 'call', seq: 1, body: encodeDccLinkBody(value) }));
    expect(decodeDccLinkBody(f)).toEqual(value);
    expect(decodeDccLinkBody(frame('reply', 1n))).toBeUndefined();
    expect(encodeDccLinkBody(undefined)).toHaveLength(0);
    expect(() => decodeDccLinkBody(frame('reply', 1n, hex('c1')))).toThrow(/DCC-Link reply body is not one MessagePack value/);
    expect(() => decodeDccLinkBody(frame('reply', 1n, hex('a2 68 69 00')))).toThrow(ProtocolError);
    // The frame itself takes any bytes, as the peer's decoder does.
    expect(decodeDccLinkFrame(hex('00 00 00 0b 81 01 00 00 00 00 00 00 00 01 c1')).body).toEqual(hex('c1'));
  });

  it('JSON bodies (the package scripts use them)', () => {
    expect(decodeDccLinkJsonBody(frame('reply', 1n, '{"success":true}'))).toEqual({ success: true });
    expect(() => decodeDccLinkJsonBody(frame('reply', 1n, '{'))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeDccLinkJsonBody(frame('reply', 1n, hex('22 ff 22')))).toThrow(ProtocolError);
  });

  it('socket path of a channel name', () => {
    expect(dccLinkSocketPath('dcc-mcp-maya-12345')).toBe('/tmp/dcc-mcp-maya-12345.sock');
    expect(dccLinkSocketPath('/run/user/1000/x.sock')).toBe('/run/user/1000/x.sock');
    expect(() => dccLinkSocketPath('')).toThrow(ProtocolError);
  });
});

describe('DCC-Link round trips', () => {
  const typeArb = fc.constantFrom(...(Object.keys(DCC_LINK_TYPES) as DccLinkFrame['type'][]));
  const frameArb: fc.Arbitrary<DccLinkFrame> = fc.record({
    type: typeArb,
    seq: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    version: fc.constantFrom(0 as const, 1 as const),
  });

  it('decode(encode(f)) = f, bare and on the channel', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 8 }), (fs) => {
        for (const f of fs) expect(decodeDccLinkFrame(encodeDccLinkFrame(input(f)))).toEqual(f);
        const got: DccLinkFrame[] = [];
        new DccLinkStreamDecoder((f) => got.push(f)).push(Buffer.concat(fs.map((f) => encodeDccLink(input(f)))));
        expect(got).toEqual(fs);
      }),
    );
  });

  it('decoding never throws anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeDccLinkFrame(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });
});
