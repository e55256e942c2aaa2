/**
 * Fuzzing the receive path: FrameDecoder (with its MessagePack structure scan) and
 * nativeDialect.decode, fed random bytes and mutated protocol frames in random chunks.
 *
 * WIRECALL_FUZZ_RUNS=<n> sets the number of cases over all tests (default 100 000), e.g.
 *   WIRECALL_FUZZ_RUNS=5000000 npx vitest run src/wire/decoder.fuzz.test.ts
 * for a long run. Each test logs its cases per second and its slowest case.
 *
 * What must hold for every input: nothing but ProtocolError or FrameTooLarge ever
 * escapes, no single case takes long (the scan bounds what the decoder may build), and
 * the heap does not grow.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameTooLarge, ProtocolError } from '../errors.js';
import { DEFAULT_MAX_FRAME_SIZE, FrameDecoder, HEADER_SIZE } from './frame-decoder.js';
import { packFrame } from './msgpack.js';
import { MessageType, StreamKind, nativeDialect } from './native.js';
import { splitAt } from '../test-util/split.js';

const RUNS = Math.max(1, Number(process.env['WIRECALL_FUZZ_RUNS'] ?? '') || 100_000);
/** Slowest case allowed: far above the tens of µs a case takes, for a loaded CI machine. */
const MAX_CASE_MS = 50;
/** Test timeout: ~20 µs per case plus generous room, never below 60 s. */
const TIMEOUT = Math.max(60_000, RUNS * 0.5);

/** `global.gc`, or one obtained at runtime (works without --expose-gc), or undefined. */
function findGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
const gc = findGc();

function heapAfterGc(): number {
  if (gc !== undefined) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

// ------------------------------------------------------------------ inputs

const HELLO = {
  protocol: 'wirecall',
  versions: [1],
  peerName: 'fuzz-client',
  peerVersion: '0.1.0',
  token: 's3cret',
  maxFrameSize: 16 * 1024 * 1024,
  heartbeatMs: 5000,
  streamWindowMessages: 1024,
  streamWindowBytes: 256 * 1024,
};
const WELCOME = {
  protocol: 'wirecall',
  version: 1,
  peerName: 'fuzz-server',
  peerVersion: '1.0.0',
  connectionId: '1b4e28ba-2fa1-41d2-883f-0016d3cca427',
  maxFrameSize: 1024 * 1024,
  heartbeatMs: 5000,
};

/** One of every message, with params of every kind: real frames as packFrame writes them. */
const VECTORS: readonly Buffer[] = [
  [MessageType.HELLO, HELLO],
  [MessageType.WELCOME, WELCOME],
  [MessageType.REJECT, 'UNAUTHENTICATED', 'wrong token'],
  [MessageType.CALL, 1, 'add', { a: 2, b: 3 }, 30000],
  [MessageType.CALL, 0xffff_ffff, 'scene.list', null, null],
  [MessageType.CALL, 7, 'mesh.set', { name: 'cube', points: [[0, 0, 0], [1, 0.5, -1]], at: new Date(1_700_000_000_123), blob: Buffer.from([1, 2, 0xc1]) }, 500],
  [MessageType.RESULT, 1, 5],
  [MessageType.RESULT, 2, { ok: true, items: ['a', 'b'], ratio: 0.5, big: 2n ** 60n, when: new Date(-1) }],
  [MessageType.RESULT, 3, Buffer.alloc(300, 7)],
  [MessageType.RESULT, 4, 'x'.repeat(200)],
  [MessageType.ERROR, 3, 12, { name: 'MethodNotFound', message: 'method not found: nope' }],
  [MessageType.ERROR, 4, 2, { name: 'Error', message: 'no such file', code: 'ENOENT', data: { path: '/tmp/x' } }],
  [MessageType.CANCEL, 4],
  [MessageType.NOTIFY, 'log', { level: 'info', text: 'hi' }],
  [MessageType.STREAM_OPEN, 1, 'count', { n: 1000 }, 30000, StreamKind.SERVER, 1024, 256 * 1024],
  [MessageType.CALLER_MESSAGE, 2, 'hello'],
  [MessageType.CALLER_END, 2],
  [MessageType.CALLER_CREDIT, 1, 512, 2688],
  [MessageType.HANDLER_MESSAGE, 1, [1, [2, [3, [4]]]]],
  [MessageType.HANDLER_CREDIT, 2, 512, 4608],
  [MessageType.PING, 1],
  [MessageType.PONG, 1],
  [MessageType.SHUTDOWN, 'ERR_PROTOCOL: unknown message type 99'],
].map((m) => Buffer.from(packFrame(m)));

/** Bytes a hostile peer would try: every ext header, 0xC1, huge containers and lengths, msgpackr-private encodings. */
const SPECIAL = [
  'c1',
  'd4 00 00', 'd4 72 40', 'd5 72 40 01', 'd6 69 00 00 00 01', 'd6 70 00 00 00 01', 'd7 ff', 'd6 ff', 'c7 0c ff', 'c7 ff 74',
  'c8 ff ff 42', 'c9 ff ff ff ff 78', 'd8 42', 'd4 ff ff', 'd4 73 00', 'd4 65 00', 'd6 62 00 00 10 00',
  'dd ff ff ff ff', 'df ff ff ff ff', 'dc ff ff', 'de ff ff', 'dd 00 01 86 a0', 'df 00 00 c3 50',
  'c6 ff ff ff ff', 'db 7f ff ff ff', 'c5 ff ff', 'd9 ff',
  '91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91 91',
  '40', '7f', 'a9 5f 5f 70 72 6f 74 6f 5f 5f',
].map((h) => Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** 32-bit values to write over a length prefix or a container count. */
const LENGTHS = [0, 1, 2, 3, 4, 5, 127, 128, 255, 256, 65_535, 65_536, 100_000, 0x7fff_ffff, 0xffff_ffff, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE + 1];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'special'; at: number; which: number; replace: boolean }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'length'; at: number; value: number; width: 1 | 2 | 4 }
  | { kind: 'duplicate'; at: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('special' as const), at: fc.nat(), which: fc.nat(SPECIAL.length - 1), replace: fc.boolean() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('length' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(...LENGTHS), fc.nat(0xffff_ffff)),
    width: fc.constantFrom(1 as const, 2 as const, 4 as const),
  }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
);

function mutate(stream: Buffer, m: Mutation): Buffer {
  if (stream.length === 0) return stream;
  const at = m.at % stream.length;
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(stream);
      out[at] = out[at]! ^ (1 << m.bit);
      return out;
    }
    case 'set': {
      const out = Buffer.from(stream);
      out[at] = m.byte;
      return out;
    }
    case 'insert':
      return Buffer.concat([stream.subarray(0, at), m.bytes, stream.subarray(at)]);
    case 'special': {
      const bytes = SPECIAL[m.which]!;
      return Buffer.concat([stream.subarray(0, at), bytes, stream.subarray(m.replace ? at + bytes.length : at)]);
    }
    case 'delete':
      return Buffer.concat([stream.subarray(0, at), stream.subarray(at + m.count)]);
    case 'truncate':
      return stream.subarray(0, at);
    case 'length': {
      // Over a length prefix (at a frame start, often) or over any count in the payload.
      const out = Buffer.from(stream);
      if (at + m.width > out.length) return out;
      out.writeUIntBE(m.value % 2 ** (8 * m.width), at, m.width);
      return out;
    }
    case 'duplicate': {
      // A slice repeated: many copies of one element, as a hostile peer would send.
      const piece = stream.subarray(at, at + m.count);
      return Buffer.concat([stream.subarray(0, at), ...Array.from({ length: 32 }, () => piece), stream.subarray(at)]);
    }
  }
}

// ------------------------------------------------------------------ the harness

interface Stats {
  cases: number;
  /** Slowest case, as the least of up to three runs of it (see runCase). */
  maxMs: number;
  /** Slowest single run, noise included. */
  rawMaxMs: number;
  /** Frames the scan passed on to onFrame (and so to msgpackr). */
  frames: number;
  /** Cases whose stream the decoder or the dialect refused. */
  rejected: number;
}

const newStats = (): Stats => ({ cases: 0, maxMs: 0, rawMaxMs: 0, frames: 0, rejected: 0 });

/** Only the two errors the decoder may throw; anything else fails the case. */
function expectDecoderError(err: unknown): void {
  if (err instanceof ProtocolError || err instanceof FrameTooLarge) return;
  throw err;
}

/**
 * As a connection reads: the chunks through one FrameDecoder, each frame decoded in
 * onFrame; the first error ends the case (a connection is closed then). Also decodes the
 * bytes after the first prefix directly, as one payload (the unpackPayload path that
 * scans by itself). Returns the time taken in ms.
 */
function runOnce(stats: Stats, count: boolean, stream: Buffer, cuts: readonly number[], maxFrameSize: number): number {
  const started = performance.now();
  const decoder = new FrameDecoder(
    (source, start, end) => {
      if (count) stats.frames++;
      nativeDialect.decode(source, start, end);
    },
    { maxFrameSize },
  );
  try {
    for (const chunk of splitAt(stream, cuts)) decoder.push(chunk);
  } catch (err) {
    expectDecoderError(err);
    if (count) stats.rejected++;
  }
  if (stream.length > HEADER_SIZE) {
    try {
      nativeDialect.decode(stream, HEADER_SIZE, stream.length);
    } catch (err) {
      expectDecoderError(err);
    }
  }
  return performance.now() - started;
}

/**
 * One case. A run slower than a fifth of the bound is run twice more and the fastest
 * counts: a garbage collection or a busy machine delays one run, a slow input all three.
 */
function runCase(stats: Stats, stream: Buffer, cuts: readonly number[], maxFrameSize: number): void {
  let ms = runOnce(stats, true, stream, cuts, maxFrameSize);
  if (ms > stats.rawMaxMs) stats.rawMaxMs = ms;
  for (let retry = 0; retry < 2 && ms > MAX_CASE_MS / 5; retry++) ms = Math.min(ms, runOnce(stats, false, stream, cuts, maxFrameSize));
  stats.cases++;
  if (ms > stats.maxMs) stats.maxMs = ms;
}

function report(name: string, stats: Stats, elapsedMs: number): void {
  console.info(
    `${name}: ${stats.cases} cases in ${(elapsedMs / 1000).toFixed(1)} s (${Math.round(stats.cases / (elapsedMs / 1000))}/s), ` +
      `slowest ${stats.maxMs.toFixed(2)} ms (single run ${stats.rawMaxMs.toFixed(2)} ms), ${stats.frames} frames past the scan, ${stats.rejected} streams refused`,
  );
}

const cuts = fc.array(fc.nat(), { maxLength: 8 });
const frameLimit = fc.constantFrom(64 * 1024, DEFAULT_MAX_FRAME_SIZE);

// ------------------------------------------------------------------ the tests

describe('decoder fuzzing', () => {
  it(
    'random byte streams',
    () => {
      const stats = newStats();
      const started = performance.now();
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), cuts, frameLimit, (bytes, c, limit) => runCase(stats, Buffer.from(bytes), c, limit)),
        { numRuns: Math.ceil(RUNS * 0.2) },
      );
      report('random bytes', stats, performance.now() - started);
      expect(stats.maxMs).toBeLessThan(MAX_CASE_MS);
    },
    TIMEOUT,
  );

  it(
    'random payloads behind a valid length prefix',
    () => {
      const stats = newStats();
      const started = performance.now();
      const payload = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        // built from hostile pieces and random bytes
        fc.array(fc.oneof(fc.constantFrom(...SPECIAL), fc.uint8Array({ maxLength: 6 })), { minLength: 1, maxLength: 12 }).map((parts) => Buffer.concat(parts)),
      );
      fc.assert(
        fc.property(fc.array(payload, { minLength: 1, maxLength: 3 }), cuts, (payloads, c) => {
          const frames = payloads.map((p) => {
            const frame = Buffer.allocUnsafe(HEADER_SIZE + p.length);
            frame.writeUInt32BE(p.length, 0);
            frame.set(p, HEADER_SIZE);
            return frame;
          });
          runCase(stats, Buffer.concat(frames), c, DEFAULT_MAX_FRAME_SIZE);
        }),
        { numRuns: Math.ceil(RUNS * 0.3) },
      );
      report('random payloads', stats, performance.now() - started);
      expect(stats.maxMs).toBeLessThan(MAX_CASE_MS);
    },
    TIMEOUT,
  );

  it(
    'mutated protocol frames, and the heap does not grow',
    () => {
      const stats = newStats();
      const mutated = fc
        .tuple(fc.array(fc.nat(VECTORS.length - 1), { minLength: 1, maxLength: 4 }), fc.array(mutation, { minLength: 1, maxLength: 4 }))
        .map(([picks, mutations]) => mutations.reduce(mutate, Buffer.concat(picks.map((i) => VECTORS[i]!))));
      const property = fc.property(mutated, cuts, frameLimit, (stream, c, limit) => runCase(stats, stream, c, limit));

      // Warm up (JIT, msgpackr's key cache), then measure the heap around the main run.
      fc.assert(property, { numRuns: Math.ceil(RUNS * 0.05) });
      const heapBefore = heapAfterGc();
      const started = performance.now();
      const before = stats.cases;
      fc.assert(property, { numRuns: Math.ceil(RUNS * 0.45) });
      const elapsed = performance.now() - started;
      const heapAfter = heapAfterGc();
      report('mutated frames', { ...stats, cases: stats.cases - before }, elapsed);
      console.info(
        `heap: ${(heapBefore / 2 ** 20).toFixed(1)} MiB before, ${(heapAfter / 2 ** 20).toFixed(1)} MiB after` +
          (gc === undefined ? ' (no gc available: generous bound)' : ' (after gc)'),
      );
      expect(stats.maxMs).toBeLessThan(MAX_CASE_MS);
      expect(heapAfter - heapBefore).toBeLessThan(gc === undefined ? 256 * 2 ** 20 : 8 * 2 ** 20);
    },
    TIMEOUT,
  );

  it('the vectors themselves decode (the mutations start from real frames)', () => {
    for (const frame of VECTORS) {
      const decoded: unknown[] = [];
      new FrameDecoder((s, a, b) => decoded.push(nativeDialect.decode(s, a, b))).push(frame);
      expect(decoded).toHaveLength(1);
    }
  });
});
