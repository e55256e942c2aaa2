/**
 * Micro-benchmarks of the hot-path pieces, without sockets:
 * - FrameDecoder.push on a byte stream cut at random places (frames split across chunks);
 * - packFrame and nativeDialect.decode, per message (from a fresh view, from the same
 *   Buffer, and in place inside a chunk of 64 frames, as the connection decodes), and
 *   FrameDecoder.push + decode of such a chunk (the whole receive path, scan included);
 * - TimerQueue add + remove, the per-call cost of a call with a deadline.
 *
 * Inputs come from a seeded PRNG, so every run and every machine sees the same bytes.
 */
import { FrameDecoder, HEADER_SIZE } from '../../src/wire/frame-decoder.js';
import { packFrame } from '../../src/wire/msgpack.js';
import { MessageType, nativeDialect } from '../../src/wire/native.js';
import { TimerQueue, type Timed } from '../../src/rpc/timer-queue.js';
import { payload, rng } from '../lib/inputs.js';
import { batchLoop } from '../lib/loops.js';
import type { Sample } from '../lib/stats.js';
import type { Prepared, Scenario } from './scenario.js';

function micro(name: string, title: string, unit: string, prepare: () => Prepared | Promise<Prepared>): Scenario {
  return { id: `micro/${name}`, group: 'micro', title, impl: 'wirecall', unit, prepare: async () => prepare() };
}

const syncPrepared = (run: (budget: { ms: number; maxOps: number }) => Sample): Prepared => ({
  run: async (budget) => run(budget),
  close: async () => {},
});

// ------------------------------------------------------------------ FrameDecoder

interface StreamSpec {
  name: string;
  title: string;
  frames: number;
  frameSize: (r: () => number) => number;
  chunkSize: (r: () => number) => number;
}

const STREAMS: readonly StreamSpec[] = [
  {
    name: 'decoder-small-frames',
    title: 'FrameDecoder.push: 20k frames of 32–256 B, chunks of 1 B–64 KiB',
    frames: 20_000,
    frameSize: (r) => 32 + Math.floor(r() * 225),
    chunkSize: (r) => 1 + Math.floor(r() * 65_536),
  },
  {
    name: 'decoder-tiny-chunks',
    title: 'FrameDecoder.push: 20k frames of 32–256 B, chunks of 1–64 B',
    frames: 20_000,
    frameSize: (r) => 32 + Math.floor(r() * 225),
    chunkSize: (r) => 1 + Math.floor(r() * 64),
  },
  {
    name: 'decoder-mixed-frames',
    title: 'FrameDecoder.push: 2k frames of 16 B–256 KiB, chunks of 1 B–64 KiB',
    frames: 2_000,
    // Mostly small, some large: a log-uniform size between 16 B and 256 KiB.
    frameSize: (r) => Math.floor(16 * Math.pow(16_384, r())),
    chunkSize: (r) => 1 + Math.floor(r() * 65_536),
  },
];

/**
 * The frames back to back, cut into chunks at random boundaries. FrameDecoder passes on
 * only well-formed MessagePack, so each payload is one `bin` value (a scan of O(1)).
 */
function chunkedStream(spec: StreamSpec): { chunks: Buffer[]; bytes: number } {
  const r = rng(0x5eed);
  const sizes = Array.from({ length: spec.frames }, () => spec.frameSize(r));
  const total = sizes.reduce((a, n) => a + HEADER_SIZE + n, 0);
  const stream = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const n of sizes) {
    stream.writeUInt32BE(n, offset);
    stream.fill(n & 0xff, offset + HEADER_SIZE, offset + HEADER_SIZE + n);
    const header = n - 2 <= 0xff ? 2 : n - 3 <= 0xffff ? 3 : 5; // bin 8, 16 or 32
    stream[offset + HEADER_SIZE] = header === 2 ? 0xc4 : header === 3 ? 0xc5 : 0xc6;
    stream.writeUIntBE(n - header, offset + HEADER_SIZE + 1, header - 1);
    offset += HEADER_SIZE + n;
  }
  const chunks: Buffer[] = [];
  for (let at = 0; at < total; ) {
    const n = Math.min(spec.chunkSize(r), total - at);
    chunks.push(stream.subarray(at, at + n));
    at += n;
  }
  return { chunks, bytes: total };
}

function decoderScenario(spec: StreamSpec): Scenario {
  return micro(spec.name, spec.title, 'frames/s', () => {
    const { chunks, bytes } = chunkedStream(spec);
    let frames = 0;
    const decoder = new FrameDecoder(() => frames++, { maxFrameSize: 1 << 20 });
    return syncPrepared((budget) =>
      batchLoop(() => {
        frames = 0;
        for (const chunk of chunks) decoder.push(chunk);
        if (frames !== spec.frames || decoder.bufferedBytes !== 0) throw new Error(`decoded ${frames} frames, expected ${spec.frames}`);
        return { ops: frames, bytes };
      }, budget),
    );
  });
}

// ------------------------------------------------------------------ codec

const BATCH = 1000;
const SMALL_OBJECT = { path: '/scene/root/mesh_01', visible: true, frame: 1042, tags: ['hero', 'lod0'], scale: 1.5 };

interface Codec {
  name: string;
  label: string;
  message: (id: number) => unknown[];
}

const CODECS: readonly Codec[] = [
  { name: 'call-32B', label: 'CALL with 32 B Buffer', message: (id) => [MessageType.CALL, id, 'echo', payload(32), null] },
  { name: 'call-object', label: 'CALL with a 5-field object', message: (id) => [MessageType.CALL, id, 'scene.setVisible', SMALL_OBJECT, 5000] },
  { name: 'result-4KiB', label: 'RESULT with 4 KiB Buffer', message: (id) => [MessageType.RESULT, id, payload(4096)] },
];

/**
 * The same decode, but of one Buffer over and over: msgpackr caches a DataView on the
 * Buffer it decodes (an expando property), so this is what decoding costs once that
 * per-Buffer setup is paid. The gap to the fresh-view row is the per-frame setup.
 */
function decodeSameBufferScenario(codec: Codec): Scenario {
  return micro(`decode-same-buffer-${codec.name}`, `nativeDialect.decode: ${codec.label}, same Buffer every time`, 'msgs/s', () => {
    const payloadOnly = Buffer.from(packFrame(codec.message(123_456)).subarray(HEADER_SIZE));
    return syncPrepared((budget) =>
      batchLoop(() => {
        for (let i = 0; i < BATCH; i++) nativeDialect.decode(payloadOnly);
        return { ops: BATCH, bytes: BATCH * payloadOnly.length };
      }, budget),
    );
  });
}

/**
 * The decode as a connection does it: 64 frames back to back in one chunk, each decoded
 * in place (`decode(chunk, start, end)`), most of them far from the chunk's start. Called
 * directly, decode scans the structure itself (msgpack-guard.ts); on a connection that
 * scan happens in FrameDecoder.push instead (see push-decode).
 */
function decodeInPlaceScenario(codec: Codec): Scenario {
  return micro(`decode-in-place-${codec.name}`, `nativeDialect.decode: ${codec.label}, in place, 64 per chunk`, 'msgs/s', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 64; i++) frames.push(Buffer.from(packFrame(codec.message(123_456 + i))));
    const chunk = Buffer.concat(frames);
    const ranges: number[] = [];
    for (let at = 0; at < chunk.length; ) {
      const length = chunk.readUInt32BE(at);
      ranges.push(at + HEADER_SIZE, at + HEADER_SIZE + length);
      at += HEADER_SIZE + length;
    }
    const expected = 64 * (codec.message(0)[0] as number);
    return syncPrepared((budget) =>
      batchLoop(() => {
        let check = 0;
        for (let i = 0; i < ranges.length; i += 2) check += nativeDialect.decode(chunk, ranges[i]!, ranges[i + 1]!)[0];
        if (check !== expected) throw new Error('decode returned the wrong message');
        return { ops: 64, bytes: chunk.length - 64 * HEADER_SIZE };
      }, budget),
    );
  });
}

/**
 * The receive path of a connection: 64 frames in one chunk through FrameDecoder.push, each
 * decoded in onFrame. The structure scan happens once per frame, in the decoder.
 */
function pushAndDecodeScenario(codec: Codec): Scenario {
  return micro(`push-decode-${codec.name}`, `FrameDecoder.push + decode: ${codec.label}, 64 per chunk`, 'msgs/s', () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 64; i++) frames.push(Buffer.from(packFrame(codec.message(123_456 + i))));
    const chunk = Buffer.concat(frames);
    const expected = 64 * (codec.message(0)[0] as number);
    let check = 0;
    const decoder = new FrameDecoder((source, start, end) => {
      check += nativeDialect.decode(source, start, end)[0];
    });
    return syncPrepared((budget) =>
      batchLoop(() => {
        check = 0;
        decoder.push(chunk);
        if (check !== expected) throw new Error('decode returned the wrong message');
        return { ops: 64, bytes: chunk.length - 64 * HEADER_SIZE };
      }, budget),
    );
  });
}

function codecScenarios(codec: Codec): Scenario[] {
  return [
    micro(`pack-${codec.name}`, `packFrame: ${codec.label}`, 'msgs/s', () => {
      const message = codec.message(123_456);
      return syncPrepared((budget) =>
        batchLoop(() => {
          let bytes = 0;
          for (let i = 0; i < BATCH; i++) bytes += packFrame(message).length;
          return { ops: BATCH, bytes };
        }, budget),
      );
    }),
    micro(`decode-${codec.name}`, `nativeDialect.decode: ${codec.label}`, 'msgs/s', () => {
      // Its own memory, not a view into msgpackr's shared output buffer.
      const frame = Buffer.from(packFrame(codec.message(123_456)));
      const expected = BATCH * (codec.message(0)[0] as number);
      return syncPrepared((budget) =>
        batchLoop(() => {
          let check = 0;
          // A fresh view per message: the worst case for msgpackr, which caches a DataView
          // per Buffer (the connection decodes in place instead: see the in-place row).
          for (let i = 0; i < BATCH; i++) check += nativeDialect.decode(frame.subarray(HEADER_SIZE))[0];
          if (check !== expected) throw new Error('decode returned the wrong message');
          return { ops: BATCH, bytes: BATCH * (frame.length - HEADER_SIZE) };
        }, budget),
      );
    }),
    decodeInPlaceScenario(codec),
    pushAndDecodeScenario(codec),
    micro(`roundtrip-${codec.name}`, `packFrame + decode: ${codec.label}`, 'msgs/s', () => {
      const message = codec.message(123_456);
      return syncPrepared((budget) =>
        batchLoop(() => {
          for (let i = 0; i < BATCH; i++) nativeDialect.decode(packFrame(message).subarray(HEADER_SIZE));
          return { ops: BATCH };
        }, budget),
      );
    }),
  ];
}

// ------------------------------------------------------------------ TimerQueue

class Entry implements Timed {
  dueAt = 0;
  heapIndex = -1;
  fire(): void {
    throw new Error('a benchmark deadline fired');
  }
}

const DEPTH = 256;

function timerScenarios(): Scenario[] {
  return [
    micro('timerqueue-depth-1', 'TimerQueue add + remove, 1 queued (a sequential call with a timeout)', 'add+remove/s', () => {
      const q = new TimerQueue();
      const e = new Entry();
      return syncPrepared((budget) =>
        batchLoop(() => {
          const base = Date.now() + 60_000;
          for (let i = 0; i < BATCH; i++) {
            e.dueAt = base + i;
            q.add(e);
            q.remove(e);
          }
          return { ops: BATCH };
        }, budget),
      );
    }),
    micro('timerqueue-depth-256-fifo', `TimerQueue add + remove, ${DEPTH} queued, oldest removed`, 'add+remove/s', () => {
      const q = new TimerQueue();
      const ring = Array.from({ length: DEPTH }, () => new Entry());
      let t = Date.now() + 60_000;
      for (const e of ring) {
        e.dueAt = t++;
        q.add(e);
      }
      let next = 0;
      return {
        run: async (budget) =>
          batchLoop(() => {
            for (let i = 0; i < BATCH; i++) {
              const e = ring[next]!;
              next = (next + 1) % DEPTH;
              q.remove(e);
              e.dueAt = t++;
              q.add(e);
            }
            return { ops: BATCH };
          }, budget),
        close: async () => q.clear(),
      };
    }),
    micro('timerqueue-depth-256-random', `TimerQueue add + remove, ${DEPTH} queued, random one removed`, 'add+remove/s', () => {
      const q = new TimerQueue();
      const r = rng(42);
      const ring = Array.from({ length: DEPTH }, () => new Entry());
      const base = Date.now() + 60_000;
      for (const e of ring) {
        e.dueAt = base + Math.floor(r() * 10_000);
        q.add(e);
      }
      const picks = Uint16Array.from({ length: 4096 }, () => Math.floor(r() * DEPTH));
      const dues = Float64Array.from({ length: 4096 }, () => base + Math.floor(r() * 10_000));
      let k = 0;
      return {
        run: async (budget) =>
          batchLoop(() => {
            for (let i = 0; i < BATCH; i++) {
              const e = ring[picks[k]!]!;
              q.remove(e);
              e.dueAt = dues[k]!;
              q.add(e);
              k = (k + 1) & 4095;
            }
            return { ops: BATCH };
          }, budget),
        close: async () => q.clear(),
      };
    }),
  ];
}

export function microScenarios(): Scenario[] {
  return [...STREAMS.map(decoderScenario), ...CODECS.flatMap(codecScenarios), decodeSameBufferScenario(CODECS[0]!), ...timerScenarios()];
}
