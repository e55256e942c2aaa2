/**
 * Hostile peers: raw sockets with hand-built frames that misbehave on purpose. Each one
 * starts its misbehaviour, then waits (bounded by `deadlineMs`) until the server cuts it,
 * and reports how long that took and any SHUTDOWN or REJECT reason it received.
 *
 * A peer that never reads its socket cannot see the server hang up (a paused socket
 * notices nothing), so for those the cut is what the server child reports for the peer
 * named in the HELLO (its `fatal`, `closing` or `close` event); afterwards the socket is
 * drained briefly to catch a last SHUTDOWN reason, if the server still sent one.
 */
import net from 'node:net';
import { Packr, Unpackr } from 'msgpackr';
import type { ServerEvent, ServerProcess } from './harness.js';
import { sleep } from './harness.js';

// ------------------------------------------------------------------ frames

export const T = {
  HELLO: 1,
  WELCOME: 2,
  REJECT: 3,
  CALL: 16,
  RESULT: 17,
  ERROR: 18,
  STREAM_OPEN: 32,
  PING: 48,
  PONG: 49,
  SHUTDOWN: 50,
} as const;

const plain = new Packr({ useRecords: false, encodeUndefinedAsNil: true } as ConstructorParameters<typeof Packr>[0]);
const reader = new Unpackr({ useRecords: false, mapsAsObjects: true } as ConstructorParameters<typeof Unpackr>[0]);

/** `[u32 BE length][payload]`. */
export function frameOf(payload: Uint8Array): Buffer {
  const f = Buffer.allocUnsafe(4 + payload.length);
  f.writeUInt32BE(payload.length, 0);
  f.set(payload, 4);
  return f;
}

/** A frame of plain, portable MessagePack (what a well-behaved peer sends). */
export function frame(value: unknown): Buffer {
  return frameOf(plain.pack(value));
}

export function helloBody(name: string, token?: string): Record<string, unknown> {
  const hello: Record<string, unknown> = {
    protocol: 'wirecall',
    versions: [1],
    peerName: name,
    peerVersion: '0',
    maxFrameSize: 16 * 1024 * 1024,
    heartbeatMs: 0,
  };
  if (token !== undefined) hello.token = token;
  return hello;
}

// ------------------------------------------------------------------ a raw connection

/** Frames up to this size are decoded; larger ones are skipped without being buffered. */
const DECODE_LIMIT = 64 * 1024;

export class RawConn {
  closed = false;
  closedAt = 0;
  /** Texts of every REJECT and SHUTDOWN received, in order. */
  readonly reasons: string[] = [];
  welcomed = false;
  framesIn = 0;
  bytesIn = 0;
  private readonly header = Buffer.alloc(4);
  private headerFill = 0;
  private need = -1;
  private fill = 0;
  private keep: Buffer | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = Date.now();
      this.wake();
    });
  }

  /** Connect to `unix:/path` or `tcp://host:port`. */
  static open(endpoint: string, timeoutMs = 10_000): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const socket = endpoint.startsWith('unix:')
        ? net.connect({ path: endpoint.slice('unix:'.length) })
        : (() => {
            const u = new URL(endpoint);
            return net.connect({ host: u.hostname, port: Number(u.port) });
          })();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`raw connect to ${endpoint} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', reject);
        resolve(new RawConn(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Stop reading: what the server sends piles up in its buffers. */
  pause(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** HELLO, then wait for WELCOME. */
  async handshake(name: string, token?: string, ms = 10_000): Promise<void> {
    this.write(frame([T.HELLO, helloBody(name, token)]));
    const ok = await this.until(() => this.welcomed || this.closed, ms);
    if (!ok || !this.welcomed) {
      throw new Error(`${name}: no WELCOME within ${ms} ms (${this.reasons.join('; ') || (this.closed ? 'closed' : 'silent')})`);
    }
  }

  /** Resolves true once `cond()` holds, false after `ms`. */
  until(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!cond()) return;
        finish(true);
      };
      const timer = setTimeout(() => finish(cond()), ms);
      const finish = (v: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      this.waiters.add(check);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      if (this.need < 0) {
        const n = Math.min(4 - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill === 4) {
          this.need = this.header.readUInt32BE(0);
          this.fill = 0;
          this.headerFill = 0;
          this.keep = Buffer.allocUnsafe(Math.min(this.need, DECODE_LIMIT));
          if (this.need === 0) this.need = -1;
        }
      } else {
        const n = Math.min(this.need - this.fill, chunk.length - off);
        if (this.keep !== null && this.fill < this.keep.length) {
          chunk.copy(this.keep, this.fill, off, off + Math.min(n, this.keep.length - this.fill));
        }
        this.fill += n;
        off += n;
        if (this.fill === this.need) {
          this.onFrame(this.keep!, this.need);
          this.need = -1;
          this.keep = null;
        }
      }
    }
    this.wake();
  }

  private onFrame(payload: Buffer, length: number): void {
    this.framesIn++;
    if (length > DECODE_LIMIT) return; // results and stream messages: not what we look for
    let m: unknown;
    try {
      m = reader.unpack(payload);
    } catch {
      return;
    }
    if (!Array.isArray(m)) return;
    if (m[0] === T.WELCOME) this.welcomed = true;
    else if (m[0] === T.REJECT) this.reasons.push(`REJECT ${String(m[1])}: ${String(m[2])}`);
    else if (m[0] === T.SHUTDOWN && m[1] !== null) this.reasons.push(String(m[1]));
  }
}

// ------------------------------------------------------------------ hostile peers

export interface HostileContext {
  server: ServerProcess;
  /** Endpoint the hostile peers use (the server's Unix socket, usually). */
  endpoint: string;
  /** TCP endpoint, for the peers whose address matters (token guessing). */
  tcp?: string | null;
  /** The server's token, presented by the hostile peers that get past the handshake. */
  token?: string;
  /** How long to wait for the cut before giving up (the peer is destroyed then). */
  deadlineMs: number;
  /** The server's maxConcurrentCalls, for the floods. */
  maxConcurrentCalls?: number;
  /**
   * Many peers at once: each sets up (connects, shakes hands, at most `setupSlots` at a
   * time), calls `onReady`, then waits for `gate` before it misbehaves, so that all
   * misbehave together. Peers whose misbehaviour starts before the handshake connect
   * only once the gate opens.
   */
  gate?: Promise<void>;
  setupSlots?: Semaphore;
  onReady?: () => void;
}

/** At most `n` holders at a time. */
export class Semaphore {
  private readonly queue: Array<() => void> = [];
  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.queue.push(resolve));
  }

  release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

export interface HostileResult {
  kind: string;
  name: string;
  /** The server hung up (or decided to) within the deadline. */
  cut: boolean;
  /** From the start of the misbehaviour to the cut, or to giving up. */
  ms: number;
  /** SHUTDOWN / REJECT texts the peer received. */
  reasons: string[];
  /** The error code the server gave for cutting it (named peers only). */
  serverCode?: string | null | undefined;
  serverMessage?: string | undefined;
  /** Setting up the misbehaviour failed (e.g. no WELCOME): not a cut. */
  error?: string;
  guess?: GuessSummary;
}

export interface GuessSummary {
  attempts: number;
  /** REJECTs that judged the token ("wrong token"): guesses that got an answer. */
  verdicts: number;
  /** Attempts refused without a verdict (other REJECT reasons, or hung up). */
  refused: number;
  /** Handshakes that succeeded with a guessed token (must be 0). */
  accepted: number;
  /** Attempts that got no answer at all within the deadline. */
  unanswered: number;
  /** Time to the first verdict, and the slowest answer. */
  firstVerdictMs: number;
  slowestMs: number;
  outcomes: string[];
}

let serial = 0;
/** A peer name the server will report back to us in its events. */
export function peerName(kind: string): string {
  return `hostile:${kind}:${process.pid}:${++serial}`;
}

const CUT_EVENTS = new Set(['fatal', 'closing', 'close']);

/**
 * Wait for the cut: the socket closing (a reading peer sees the hang-up) or, for a named
 * peer, the server's own word that it cut it. Then collect the last reason and clean up.
 */
async function awaitCut(
  kind: string,
  name: string,
  conn: RawConn,
  started: number,
  ctx: HostileContext,
  { reading, named }: { reading: boolean; named: boolean },
): Promise<HostileResult> {
  const deadline = started + ctx.deadlineMs;
  let serverEvent: ServerEvent | undefined;
  const serverSaid = named
    ? ctx.server.waitEvent((e) => e.peer === name && CUT_EVENTS.has(e.ev), Math.max(0, deadline - Date.now()))
    : Promise.resolve(undefined);
  void serverSaid.then((e) => {
    serverEvent = e;
  });
  const socketClosed = conn.until(() => conn.closed, Math.max(0, deadline - Date.now()));
  await Promise.race([socketClosed, serverSaid.then((e) => e !== undefined || new Promise<never>(() => {}))]);
  // Let whichever came second catch up a little, for the record (not for the timing).
  await sleep(0);
  const cutAt = Math.min(conn.closed ? conn.closedAt : Infinity, serverEvent?.t ?? Infinity);
  const cut = Number.isFinite(cutAt);
  if (cut) {
    // Drain what the server still sent (its SHUTDOWN reason is the last frame), briefly.
    if (!reading) conn.socket.resume();
    await conn.until(() => conn.closed, 1500);
  }
  conn.destroy();
  const closeEvent = named ? ctx.server.events.find((e) => e.peer === name && (e.ev === 'fatal' || e.ev === 'close') && e.code) : undefined;
  return {
    kind,
    name,
    cut,
    ms: (cut ? cutAt : Date.now()) - started,
    reasons: conn.reasons,
    serverCode: closeEvent?.code ?? serverEvent?.code,
    serverMessage: closeEvent?.message ?? serverEvent?.message,
  };
}

function failed(kind: string, name: string, started: number, err: unknown): HostileResult {
  return { kind, name, cut: false, ms: Date.now() - started, reasons: [], error: err instanceof Error ? err.message : String(err) };
}

/**
 * Open and (optionally) shake hands, then wait for the gate; errors become a
 * HostileResult. Without a handshake the gate comes first: connecting is the misbehaviour.
 */
async function opened(kind: string, name: string, ctx: HostileContext, hello: boolean): Promise<RawConn | HostileResult> {
  if (!hello) {
    ctx.onReady?.();
    await ctx.gate;
  }
  const started = Date.now();
  let conn: RawConn | undefined;
  if (hello) await ctx.setupSlots?.acquire();
  try {
    conn = await RawConn.open(ctx.endpoint);
    if (hello) await conn.handshake(name, ctx.token);
  } catch (err) {
    conn?.destroy();
    return failed(kind, name, started, err);
  } finally {
    if (hello) ctx.setupSlots?.release();
  }
  if (hello) {
    ctx.onReady?.();
    await ctx.gate;
  }
  return conn;
}

// 1. Private msgpackr extensions: structured-clone references (a cycle) and records.

/** `[CALL, id, 'echo', obj, nil]` where obj refers to itself: msgpackr structured clone. */
export function cycleFrame(id = 1): Buffer {
  const obj: Record<string, unknown> = { a: 1 };
  obj.self = obj;
  return frameOf(new Packr({ structuredClone: true } as ConstructorParameters<typeof Packr>[0]).pack([T.CALL, id, 'echo', obj, null]));
}

/** `[CALL, id, 'echo', [{x,y},{x,y}], nil]` written with msgpackr records. */
export function recordsFrame(id = 2): Buffer {
  return frameOf(
    new Packr({ useRecords: true } as ConstructorParameters<typeof Packr>[0]).pack([T.CALL, id, 'echo', [{ x: 1, y: 2 }, { x: 3, y: 4 }], null]),
  );
}

export type ExtVariant = 'cycle' | 'cycleBeforeHello' | 'records';

export async function extCycle(ctx: HostileContext, variant: ExtVariant = 'cycle'): Promise<HostileResult> {
  const kind = `extCycle/${variant}`;
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, variant !== 'cycleBeforeHello');
  if (!(c instanceof RawConn)) return c;
  const started = Date.now();
  c.write(variant === 'records' ? recordsFrame() : cycleFrame());
  return awaitCut(kind, name, c, started, ctx, { reading: true, named: variant !== 'cycleBeforeHello' });
}

// 2. A DAG bomb: 2^levels leaves through shared references, a few hundred bytes on the wire.

export function dagFrame(levels = 26, id = 1): Buffer {
  let x: unknown = 'z';
  for (let i = 0; i < levels; i++) x = [x, x];
  return frameOf(new Packr({ structuredClone: true } as ConstructorParameters<typeof Packr>[0]).pack([T.CALL, id, 'echo', x, null]));
}

export async function dagBomb(ctx: HostileContext): Promise<HostileResult> {
  const kind = 'dagBomb';
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  const started = Date.now();
  c.write(dagFrame());
  return awaitCut(kind, name, c, started, ctx, { reading: true, named: true });
}

// 3. A server stream opened with the largest window, never read.

export async function streamNeverRead(ctx: HostileContext, { n = 4096, size = 64 * 1024 } = {}): Promise<HostileResult> {
  const kind = 'streamNeverRead';
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  c.pause();
  const started = Date.now();
  c.write(frame([T.STREAM_OPEN, 1, 'count', { n, size }, null, 1, 0xffffffff, 0xffffffff]));
  return awaitCut(kind, name, c, started, ctx, { reading: false, named: true });
}

// 4. Many calls with large params, replies never read.

/** `[CALL, id, 'echo', <bin of body.length>, nil]` as a small head to write before `body`. */
export function binCallHead(id: number, method: string, binLength: number): Buffer {
  const m = Buffer.from(method);
  const head = Buffer.allocUnsafe(4 + 2 + 5 + 1 + m.length + 5);
  let o = 4;
  head[o++] = 0x95; // fixarray 5
  head[o++] = T.CALL; // positive fixint
  head[o++] = 0xce; // uint32 id
  head.writeUInt32BE(id, o);
  o += 4;
  head[o++] = 0xa0 | m.length; // fixstr (method names here are short)
  m.copy(head, o);
  o += m.length;
  head[o++] = 0xc6; // bin32
  head.writeUInt32BE(binLength, o);
  o += 4;
  const payloadLength = o - 4 + binLength + 1; // + the trailing nil
  head.writeUInt32BE(payloadLength, 0);
  return head.subarray(0, o);
}

export const NIL = Buffer.from([0xc0]);

export async function neverReadReplies(ctx: HostileContext, { calls = 512, size = 64 * 1024 } = {}): Promise<HostileResult> {
  const kind = 'neverReadReplies';
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  c.pause();
  const body = Buffer.alloc(size, 0x62); // one body for every call: the peer's own memory stays small
  const started = Date.now();
  c.socket.cork();
  for (let id = 1; id <= calls; id++) {
    c.write(binCallHead(id, 'echo', size));
    c.write(body);
    c.write(NIL);
  }
  c.socket.uncork();
  return awaitCut(kind, name, c, started, ctx, { reading: false, named: true });
}

// 5. Floods beyond the concurrency limit, answers never read.

export function floodBuffer(kind: 'call' | 'stream', count: number): Buffer {
  const frames: Buffer[] = [];
  for (let id = 1; id <= count; id++) {
    frames.push(
      kind === 'call'
        ? frame([T.CALL, id, 'sleep', { ms: 60_000 }, null])
        : frame([T.STREAM_OPEN, id, 'echoStream', null, null, 3, 1024, 262_144]),
    );
  }
  return Buffer.concat(frames);
}

async function flood(ctx: HostileContext, what: 'call' | 'stream', extra: number): Promise<HostileResult> {
  const kind = what === 'call' ? 'callFlood' : 'streamOpenFlood';
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  c.pause();
  const bytes = floodBuffer(what, (ctx.maxConcurrentCalls ?? 1024) + extra);
  const started = Date.now();
  c.write(bytes);
  return awaitCut(kind, name, c, started, ctx, { reading: false, named: true });
}

export const callFlood = (ctx: HostileContext, extra = 5000): Promise<HostileResult> => flood(ctx, 'call', extra);
export const streamOpenFlood = (ctx: HostileContext, extra = 5000): Promise<HostileResult> => flood(ctx, 'stream', extra);

// 6. One frame holding ~2 million tiny map keys (under the 16 MiB frame limit).

let tinyKeysCache: Buffer | undefined;
/** `[CALL, 1, 'echo', {<keys>: nil...}, nil]`, built by hand: ~12 MB. Cached (shared by every peer). */
export function tinyKeysFrame(keys = 2_000_000): Buffer {
  if (tinyKeysCache !== undefined && keys === 2_000_000) return tinyKeysCache;
  const parts: Buffer[] = [];
  const head = Buffer.from([0x95, T.CALL, 0x01, 0xa4, ...Buffer.from('echo'), 0xdf, 0, 0, 0, 0]);
  head.writeUInt32BE(keys, head.length - 4);
  parts.push(head);
  const body = Buffer.allocUnsafe(keys * 7);
  let o = 0;
  for (let i = 0; i < keys; i++) {
    const k = i.toString(36);
    body[o++] = 0xa0 | k.length;
    o += body.write(k, o, 'latin1');
    body[o++] = 0xc0;
  }
  parts.push(body.subarray(0, o), NIL);
  const f = frameOf(Buffer.concat(parts));
  if (keys === 2_000_000) tinyKeysCache = f;
  return f;
}

export async function tinyKeys(ctx: HostileContext): Promise<HostileResult> {
  const kind = 'tinyKeys';
  const name = peerName(kind);
  const bytes = tinyKeysFrame();
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  const started = Date.now();
  c.write(bytes);
  return awaitCut(kind, name, c, started, ctx, { reading: true, named: true });
}

// 7. Stalls: nothing at all; half a frame; one byte a second.

export async function preHandshakeStall(ctx: HostileContext): Promise<HostileResult> {
  const kind = 'preHandshakeStall';
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, false);
  if (!(c instanceof RawConn)) return c;
  return awaitCut(kind, name, c, Date.now(), ctx, { reading: true, named: false });
}

export type StallVariant = 'half' | 'prefixOnly';

/** A length prefix and half the payload (`half`), or the 4 prefix bytes alone (`prefixOnly`), then nothing. */
export async function midFrameStall(ctx: HostileContext, variant: StallVariant = 'half'): Promise<HostileResult> {
  const kind = `midFrameStall/${variant}`;
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  const whole = frame([T.CALL, 1, 'echo', { pad: 'p'.repeat(200) }, null]);
  const started = Date.now();
  c.write(whole.subarray(0, variant === 'prefixOnly' ? 4 : 4 + Math.floor((whole.length - 4) / 2)));
  return awaitCut(kind, name, c, started, ctx, { reading: true, named: true });
}

export async function slowloris(ctx: HostileContext, { everyMs = 1000 } = {}): Promise<HostileResult> {
  const kind = 'slowloris';
  const name = peerName(kind);
  const c = await opened(kind, name, ctx, true);
  if (!(c instanceof RawConn)) return c;
  const whole = frame([T.CALL, 1, 'echo', { pad: 'p'.repeat(200) }, null]);
  let sent = 0;
  const drip = (): void => {
    if (c.closed || sent >= whole.length) return;
    c.write(whole.subarray(sent, sent + 1));
    sent++;
  };
  const started = Date.now();
  drip();
  const timer = setInterval(drip, everyMs);
  try {
    return await awaitCut(kind, name, c, started, ctx, { reading: true, named: true });
  } finally {
    clearInterval(timer);
  }
}

// 8. Token guessing: wrong tokens, connection after connection.

/** One guess: HELLO with a wrong token over a fresh connection; what came back. */
async function guessOnce(endpoint: string, n: number, deadlineMs: number): Promise<{ outcome: string; ms: number }> {
  const started = Date.now();
  let c: RawConn;
  try {
    c = await RawConn.open(endpoint, deadlineMs);
  } catch (err) {
    return { outcome: `connect failed: ${(err as Error).message}`, ms: Date.now() - started };
  }
  c.write(frame([T.HELLO, helloBody(`hostile:tokenGuess:${n}`, `guess-${n}-${Math.random().toString(36).slice(2)}`)]));
  await c.until(() => c.closed || c.welcomed || c.reasons.length > 0, deadlineMs);
  const ms = Date.now() - started;
  const outcome = c.welcomed ? 'WELCOME' : c.reasons.length > 0 ? c.reasons[0]! : c.closed ? 'closed' : 'unanswered';
  c.destroy();
  return { outcome, ms };
}

export function summariseGuesses(results: Array<{ outcome: string; ms: number }>): GuessSummary {
  const verdicts = results.filter((r) => /wrong token/.test(r.outcome));
  return {
    attempts: results.length,
    verdicts: verdicts.length,
    refused: results.filter((r) => r.outcome !== 'WELCOME' && r.outcome !== 'unanswered' && !/wrong token/.test(r.outcome)).length,
    accepted: results.filter((r) => r.outcome === 'WELCOME').length,
    unanswered: results.filter((r) => r.outcome === 'unanswered').length,
    firstVerdictMs: verdicts[0]?.ms ?? -1,
    slowestMs: Math.max(0, ...results.map((r) => r.ms)),
    outcomes: [...new Set(results.map((r) => r.outcome))],
  };
}

/**
 * Guess tokens for `durationMs` (at most `maxAttempts`), `concurrency` connections at a
 * time, over TCP when the server has it (the throttle is per peer address).
 */
export async function tokenGuess(
  ctx: HostileContext,
  { durationMs = 4000, maxAttempts = 500, concurrency = 1 } = {},
): Promise<HostileResult> {
  const kind = 'tokenGuess';
  const endpoint = ctx.tcp ?? ctx.endpoint;
  const started = Date.now();
  const results: Array<{ outcome: string; ms: number }> = [];
  let n = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() - started < durationMs && n < maxAttempts) {
      results.push(await guessOnce(endpoint, n++, ctx.deadlineMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const guess = summariseGuesses(results);
  return {
    kind,
    name: `hostile:tokenGuess:x${concurrency}`,
    cut: guess.unanswered === 0,
    ms: guess.slowestMs,
    reasons: guess.outcomes,
    guess,
  };
}

/** One guess, as one of the "50 connections of every kind" of the acceptance test. */
export async function tokenGuessOnce(ctx: HostileContext, n: number): Promise<HostileResult> {
  ctx.onReady?.();
  await ctx.gate;
  const r = await guessOnce(ctx.tcp ?? ctx.endpoint, n, ctx.deadlineMs);
  const guess = summariseGuesses([r]);
  return { kind: 'tokenGuess', name: `hostile:tokenGuess:${n}`, cut: r.outcome !== 'unanswered', ms: r.ms, reasons: [r.outcome], guess };
}

// ------------------------------------------------------------------ the catalogue

export type HostileKind =
  | 'extCycle'
  | 'dagBomb'
  | 'streamNeverRead'
  | 'neverReadReplies'
  | 'callFlood'
  | 'streamOpenFlood'
  | 'tinyKeys'
  | 'preHandshakeStall'
  | 'midFrameStall'
  | 'slowloris'
  | 'tokenGuess';

export const HOSTILE_KINDS: HostileKind[] = [
  'extCycle',
  'dagBomb',
  'streamNeverRead',
  'neverReadReplies',
  'callFlood',
  'streamOpenFlood',
  'tinyKeys',
  'preHandshakeStall',
  'midFrameStall',
  'slowloris',
  'tokenGuess',
];

const EXT_VARIANTS: ExtVariant[] = ['cycle', 'cycleBeforeHello', 'records'];
const STALL_VARIANTS: StallVariant[] = ['half', 'prefixOnly'];

/** The i-th connection of `kind` (variants of extCycle rotate with i). */
export function launch(kind: HostileKind, ctx: HostileContext, i = 0): Promise<HostileResult> {
  switch (kind) {
    case 'extCycle':
      return extCycle(ctx, EXT_VARIANTS[i % EXT_VARIANTS.length]);
    case 'dagBomb':
      return dagBomb(ctx);
    case 'streamNeverRead':
      return streamNeverRead(ctx);
    case 'neverReadReplies':
      return neverReadReplies(ctx);
    case 'callFlood':
      return callFlood(ctx);
    case 'streamOpenFlood':
      return streamOpenFlood(ctx);
    case 'tinyKeys':
      return tinyKeys(ctx);
    case 'preHandshakeStall':
      return preHandshakeStall(ctx);
    case 'midFrameStall':
      return midFrameStall(ctx, STALL_VARIANTS[i % STALL_VARIANTS.length]);
    case 'slowloris':
      return slowloris(ctx);
    case 'tokenGuess':
      return tokenGuessOnce(ctx, i);
  }
}

export function describeResult(r: HostileResult): string {
  const what = r.error ? `setup failed: ${r.error}` : r.cut ? `cut after ${r.ms} ms` : `NOT cut after ${r.ms} ms`;
  const why = [r.serverCode && `server: ${r.serverCode}${r.serverMessage ? ` (${r.serverMessage})` : ''}`, r.reasons.length > 0 && `got: ${r.reasons.join(' | ')}`]
    .filter(Boolean)
    .join('; ');
  return `${r.name}: ${what}${why ? `; ${why}` : ''}`;
}
