/**
 * The hostile peers' hand-built frames say what they are meant to say: a hostile peer
 * whose frame is broken by mistake would be cut for the wrong reason and prove nothing.
 */
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { NIL, T, binCallHead, cycleFrame, dagFrame, floodBuffer, frame, helloBody, recordsFrame, tinyKeysFrame } from './support/hostile.js';

/** What a peer that speaks msgpackr's private extensions would decode. */
const permissive = new Unpackr({ structuredClone: true, mapsAsObjects: true } as ConstructorParameters<typeof Unpackr>[0]);
const plain = new Unpackr({ useRecords: false, mapsAsObjects: true } as ConstructorParameters<typeof Unpackr>[0]);

function payloads(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < bytes.length; ) {
    const n = bytes.readUInt32BE(o);
    out.push(bytes.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}

function single(bytes: Buffer): Buffer {
  const p = payloads(bytes);
  expect(p).toHaveLength(1);
  return p[0]!;
}

describe('hostile frames', () => {
  it('HELLO is a plain, valid handshake', () => {
    expect(plain.unpack(single(frame([T.HELLO, helloBody('x', 'tok')])))).toEqual([
      1,
      { protocol: 'wirecall', versions: [1], peerName: 'x', peerVersion: '0', maxFrameSize: 16 << 20, heartbeatMs: 0, token: 'tok' },
    ]);
  });

  it('the cycle is a self-reference through structured-clone extensions', () => {
    const v = permissive.unpack(single(cycleFrame(7))) as [number, number, string, { a: number; self: unknown }, null];
    expect(v.slice(0, 3)).toEqual([T.CALL, 7, 'echo']);
    expect(v[3].self).toBe(v[3]);
  });

  it('the records frame uses msgpackr records', () => {
    const payload = single(recordsFrame(3));
    expect(payload.includes(Buffer.from([0xd4, 0x72]))).toBe(true); // fixext 1 of type 0x72: a record definition
    expect(permissive.unpack(payload)).toEqual([T.CALL, 3, 'echo', [{ x: 1, y: 2 }, { x: 3, y: 4 }], null]);
  });

  it('the DAG bomb is a few hundred bytes that share one node 26 levels deep', () => {
    const payload = single(dagFrame());
    expect(payload.length).toBeLessThan(600);
    let node = (permissive.unpack(payload) as unknown[])[3] as unknown[];
    for (let level = 0; level < 26; level++) {
      expect(node[0]).toBe(node[1]);
      node = node[0] as unknown[];
    }
    expect(node).toBe('z');
  });

  it('a bin CALL is head + body + nil', () => {
    const body = Buffer.alloc(65_536, 0x62);
    const bytes = Buffer.concat([binCallHead(9, 'echo', body.length), body, NIL]);
    const v = plain.unpack(single(bytes)) as unknown[];
    expect(v.slice(0, 3)).toEqual([T.CALL, 9, 'echo']);
    expect(Buffer.compare(v[3] as Buffer, body)).toBe(0);
    expect(v[4]).toBeNull();
  });

  it('the floods are valid CALLs and STREAM_OPENs with distinct ids', () => {
    const calls = payloads(floodBuffer('call', 3)).map((p) => plain.unpack(p));
    expect(calls).toEqual([1, 2, 3].map((id) => [T.CALL, id, 'sleep', { ms: 60_000 }, null]));
    const opens = payloads(floodBuffer('stream', 2)).map((p) => plain.unpack(p));
    expect(opens).toEqual([1, 2].map((id) => [T.STREAM_OPEN, id, 'echoStream', null, null, 3, 1024, 262_144]));
  });

  it('tiny keys: distinct keys, and 2 million of them fit under the 16 MiB frame limit', () => {
    const small = plain.unpack(single(tinyKeysFrame(1000))) as [number, number, string, Record<string, null>, null];
    expect(small.slice(0, 3)).toEqual([T.CALL, 1, 'echo']);
    expect(Object.keys(small[3])).toHaveLength(1000);
    const full = single(tinyKeysFrame());
    expect(full.length).toBeLessThan(16 << 20);
    expect(full.readUInt32BE(full.indexOf(0xdf) + 1)).toBe(2_000_000); // map32 header
  });
});
