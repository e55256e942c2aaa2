/**
 * Each kind of hostile peer alone, beside 20 good clients: the good clients keep 100 %
 * success and their p99 stays within P99_FACTOR× the quiet p99 (floor P99_FLOOR_MS), the
 * hostile peer is cut within the server's limit for it (+ CUT_SLACK_MS), and the server's
 * RSS stays under RSS_BOUND.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Children, mb } from './support/harness.js';
import {
  HOSTILE_KINDS,
  extCycle,
  launch,
  midFrameStall,
  tokenGuess,
  type HostileContext,
  type HostileKind,
  type HostileResult,
} from './support/hostile.js';
import { describeLoad, p99Bound, report, runAttack, scaled } from './support/scenario.js';

const CLIENTS = 20;
/** Each good client makes a call, then pauses this long: ~20 × 200 calls/s, a steady load that leaves CPU to spare. */
const INTERVAL_MS = 5;
const LOAD_MS = scaled(4000);
/** Scheduling slack on a busy 2-core machine, on top of each limit. */
const CUT_SLACK_MS = 2500;
/** One hostile peer may cost the server some memory, never this much. */
const RSS_BOUND = 150 * 2 ** 20;
const TOKEN = 'reliability-secret';
const AUTH_THROTTLE = { baseDelay: 100, maxDelay: 1000, maxFailures: 5, banTime: 60_000 };

interface KindSpec {
  /** Server options beyond the defaults, and why. */
  options: Record<string, unknown>;
  /** The server's limit for cutting this peer, in ms after its misbehaviour starts. */
  limitMs: number;
  /** Good clients' connection options. */
  clientOptions?: Record<string, unknown>;
  tcp?: boolean;
  /** Why the server must cut it: matched against its error code and message and the reasons the peer got. */
  why?: RegExp;
  run?: (ctx: HostileContext) => Promise<HostileResult[]>;
}

const SPECS: Record<HostileKind, KindSpec> = {
  // Private msgpack extensions are a fatal ERR_PROTOCOL at once: all three variants.
  extCycle: {
    options: {},
    limitMs: 0,
    why: /ERR_PROTOCOL.*extension type/,
    run: async (ctx) => [await extCycle(ctx, 'cycle'), await extCycle(ctx, 'cycleBeforeHello'), await extCycle(ctx, 'records')],
  },
  // Shared references are extensions too: cut at the first frame, never expanded.
  dagBomb: { options: {}, limitMs: 0, why: /ERR_PROTOCOL.*extension type/ },
  // slowPeerTimeout defaults to 30 s: 2 s keeps the test short.
  streamNeverRead: { options: { slowPeerTimeout: 2000 }, limitMs: 2000, why: /ERR_LIMIT_EXCEEDED/ },
  neverReadReplies: { options: { slowPeerTimeout: 2000 }, limitMs: 2000, why: /ERR_LIMIT_EXCEEDED/ },
  // maxRefusedPerSecond defaults to maxConcurrentCalls (1024): 5000 refusals pass it within the first second.
  callFlood: { options: {}, limitMs: 1000, why: /ERR_LIMIT_EXCEEDED/ },
  streamOpenFlood: { options: {}, limitMs: 1000, why: /ERR_LIMIT_EXCEEDED/ },
  // maxMessageElements (default 100k–250k) is checked while the frame arrives.
  tinyKeys: { options: {}, limitMs: 0, why: /maxMessageElements/ },
  // handshakeTimeout (default 5 s) and frameTimeout (default 30 s) made short for the test.
  preHandshakeStall: { options: { handshakeTimeout: 1000 }, limitMs: 1000, why: /ERR_HANDSHAKE_TIMEOUT/ },
  midFrameStall: {
    options: { frameTimeout: 1000 },
    limitMs: 1000,
    why: /ERR_LIMIT_EXCEEDED.*frameTimeout/,
    run: async (ctx) => Promise.all([midFrameStall(ctx, 'half'), midFrameStall(ctx, 'prefixOnly')]),
  },
  slowloris: { options: { frameTimeout: 2000 }, limitMs: 2000, why: /ERR_LIMIT_EXCEEDED.*frameTimeout/ },
  // A small throttle (the defaults are for production): 5 verdicts, then the address is refused.
  tokenGuess: {
    options: { token: TOKEN, authThrottle: AUTH_THROTTLE },
    clientOptions: { token: TOKEN },
    tcp: true,
    limitMs: AUTH_THROTTLE.maxDelay,
    run: async (ctx) => [await tokenGuess(ctx, { durationMs: scaled(3500), concurrency: 1 })],
  },
};

const children = new Children();
afterEach(() => children.cleanup());
afterAll(() => children.cleanup());

let quietP99 = 0;

beforeAll(async () => {
  // The quiet p99: the same clients and load against a server nobody attacks.
  const run = await runAttack(children, { serverOptions: {}, clients: CLIENTS, load: { durationMs: scaled(3000), intervalMs: INTERVAL_MS } });
  await children.cleanup();
  expect(run.load.ok, describeLoad(run.load)).toBe(run.load.calls);
  quietP99 = run.load.p99;
  console.log(`[reliability] quiet: ${CLIENTS} good clients: ${describeLoad(run.load)}; server RSS max ${mb(run.rss.max)}`);
}, 60_000);

describe('one hostile peer beside 20 good clients', () => {
  for (const kind of HOSTILE_KINDS) {
    const spec = SPECS[kind];
    // The peer waits for its cut a little beyond the bound, so a late cut is reported with its time.
    const deadlineMs = spec.limitMs + CUT_SLACK_MS + 1500;
    it(kind, async () => {
      const run = await runAttack(children, {
        serverOptions: spec.options,
        clients: CLIENTS,
        clientOptions: spec.clientOptions ?? {},
        tcp: spec.tcp ?? false,
        load: { durationMs: Math.max(LOAD_MS, deadlineMs), intervalMs: INTERVAL_MS },
        attack: (ctx) => (spec.run ?? (async (c) => [await launch(kind, c)]))({ ...ctx, deadlineMs }),
      });
      const bound = p99Bound(quietP99);
      report(`${kind} (quiet p99 ${quietP99.toFixed(2)} ms, bound ${bound.toFixed(1)} ms)`, run);

      expect.soft(run.server.alive, 'the server survives').toBe(true);
      expect.soft(run.load.ok, `good clients: 100 % success (${describeLoad(run.load)})`).toBe(run.load.calls);
      expect.soft(run.load.p99, `good clients' p99 within ${bound.toFixed(1)} ms`).toBeLessThanOrEqual(bound);
      expect.soft(run.rss.max, `server RSS under ${mb(RSS_BOUND)}`).toBeLessThan(RSS_BOUND);
      for (const h of run.hostile) {
        expect.soft(h.error, `${h.kind}: set up`).toBeUndefined();
        expect.soft(h.cut, `${h.kind}: cut`).toBe(true);
        expect.soft(h.ms, `${h.kind}: cut within ${spec.limitMs} + ${CUT_SLACK_MS} ms`).toBeLessThanOrEqual(spec.limitMs + CUT_SLACK_MS);
        if (spec.why !== undefined) {
          // A peer cut before its handshake is not named: the server's connectionError says why.
          const unnamed = run.server.events.filter((e) => e.ev === 'connectionError').map((e) => `${e.code}: ${e.message}`);
          const text = [h.serverCode, h.serverMessage, ...h.reasons, ...(h.serverCode === undefined ? unnamed : [])].join(' | ');
          expect.soft(text, `${h.kind}: cut for the right reason`).toMatch(spec.why);
        }
      }
      if (kind === 'tokenGuess') {
        const g = run.hostile[0]!.guess!;
        console.log(`  guesses: ${JSON.stringify(g)}`);
        expect.soft(g.accepted, 'no guess is accepted').toBe(0);
        expect.soft(g.unanswered, 'every guess is answered or refused').toBe(0);
        expect.soft(g.verdicts, `at most maxFailures (${AUTH_THROTTLE.maxFailures}) guesses get a verdict`).toBeLessThanOrEqual(AUTH_THROTTLE.maxFailures);
        expect.soft(g.firstVerdictMs, `a failed handshake waits at least baseDelay (${AUTH_THROTTLE.baseDelay} ms) for its REJECT`).toBeGreaterThanOrEqual(
          AUTH_THROTTLE.baseDelay - 10,
        );
      }
    }, 60_000);
  }
});
