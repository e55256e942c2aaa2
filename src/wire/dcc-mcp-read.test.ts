/**
 * The direct envelope reader (dcc-mcp-read.ts) against the general path (msgpackr, then
 * the shape check): the same message for every envelope in the layout dcc-mcp-core
 * writes (and with bin byte fields), undefined, never a different answer, for anything
 * else, so the general path's errors stay the ones users see.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDccMcp, encodeDccMcp, encodeDccRequest, uuidToBytes, validateDccMcpMessage, type DccMcpMessage } from './dcc-mcp.js';
import { readDccMcpEnvelope } from './dcc-mcp-read.js';
import { HEADER_SIZE } from './frame-decoder.js';
import { decodeScanned, packFrame } from './msgpack.js';

const idArb = fc.uuid().map((u) => u.toLowerCase());
const bytesArb = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a));
const strArb = fc.string({ unit: 'grapheme', maxLength: 300 });
const messageArb: fc.Arbitrary<DccMcpMessage> = fc.oneof(
  fc.record({ type: fc.constant('request' as const), id: idArb, method: strArb, params: bytesArb }),
  fc.record({ type: fc.constant('response' as const), id: idArb, success: fc.boolean(), payload: bytesArb, error: fc.option(strArb, { nil: null }) }),
  fc.record({ type: fc.constantFrom('ping' as const, 'pong' as const), id: idArb, timestampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) }),
  fc.record({ type: fc.constant('notify' as const), id: fc.option(idArb, { nil: null }), topic: strArb, data: bytesArb }),
  fc.record({ type: fc.constant('shutdown' as const), reason: fc.option(strArb, { nil: null }) }),
);

const payload = (frame: Buffer): Buffer => frame.subarray(HEADER_SIZE);
const general = (p: Buffer): DccMcpMessage => validateDccMcpMessage(decodeScanned(p, 0, p.length));

/** The envelope as a generic writer (msgpackr) packs it: byte fields as bin, ids as bin. */
function asGenericWriter(m: DccMcpMessage): Buffer {
  const id = (v: string | null): Buffer | null => (v === null ? null : uuidToBytes(v));
  switch (m.type) {
    case 'request':
      return packFrame([m.type, id(m.id), m.method, m.params]);
    case 'response':
      return packFrame([m.type, id(m.id), m.success, m.payload, m.error]);
    case 'ping':
    case 'pong':
      return packFrame([m.type, id(m.id), m.timestampMs]);
    case 'notify':
      return packFrame([m.type, id(m.id), m.topic, m.data]);
    case 'shutdown':
      return packFrame([m.type, m.reason]);
  }
}

describe('the direct envelope reader', () => {
  it('reads what our encoder writes exactly as the general path does', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const p = payload(encodeDccMcp(m));
        expect(readDccMcpEnvelope(p, 0, p.length)).toEqual(m);
        expect(general(p)).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('reads byte fields written as bin (a lenient writer), and agrees with the general path whenever it answers', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const p = payload(asGenericWriter(m));
        const direct = readDccMcpEnvelope(p, 0, p.length);
        // msgpackr writes some timestamps as float 64: those are left to the general path.
        if (direct !== undefined) expect(direct).toEqual(m);
        expect(general(p)).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves everything else to the general path, whose errors users see', () => {
    const cases: unknown[] = [
      ['request', 'not-an-id', 'm', []],
      ['request', uuidToBytes('00112233-4455-6677-8899-aabbccddeeff'), 'm', [1, 256]],
      ['request', uuidToBytes('00112233-4455-6677-8899-aabbccddeeff'), 'm', [-1]],
      ['request', uuidToBytes('00112233-4455-6677-8899-aabbccddeeff'), 'm'],
      ['response', uuidToBytes('00112233-4455-6677-8899-aabbccddeeff'), 1, [], null],
      ['ping', uuidToBytes('00112233-4455-6677-8899-aabbccddeeff'), -5],
      ['nope'],
      { type: 'request' },
    ];
    for (const c of cases) {
      const p = payload(packFrame(c));
      expect(readDccMcpEnvelope(p, 0, p.length), JSON.stringify(c)).toBeUndefined();
      expect(() => decodeDccMcp(p)).toThrow(/dcc-mcp|envelope/);
    }
  });

  it('copies byte fields out of the frame, even large ones', () => {
    const params = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 31) % 256));
    const frame = encodeDccRequest('00112233-4455-6677-8899-aabbccddeeff', 'big', params);
    const m = decodeDccMcp(frame, HEADER_SIZE, frame.length);
    expect(m.type === 'request' && m.params.equals(params)).toBe(true);
    frame.fill(0);
    expect(m.type === 'request' && m.params.equals(params)).toBe(true);
  });
});
