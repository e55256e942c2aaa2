/**
 * The acceptance test of "hold up under hostile and slow peers": 50 connections of every
 * hostile kind at once against one server, beside 100 good clients. The good clients
 * keep 100 % success, the server's RSS (sampled every 100 ms) stays under 200 MB, and
 * every hostile connection is cut within a bounded wait.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { Children, mb, sleep } from './support/harness.js';
import { HOSTILE_KINDS, Semaphore, describeResult, launch, type HostileContext, type HostileResult } from './support/hostile.js';
import { describeLoad, scaled, startServerAndLoad } from './support/scenario.js';

const PER_KIND = 50;
const CLIENTS = 100;
/** Each good client calls, then pauses: 100 clients × ~50 calls/s. */
const INTERVAL_MS = 20;
/**
 * The issue's bound. Peaks measured on 2026-11-29 (2 cores): 188–219 MB before this
 * session's changes, 156–168 MB after (a 64 KiB start mark for peers that never read,
 * handler signals made only when asked for). What is left: Node's 64 MB at rest, V8's
 * young generation grown to its 32 MB under the burst, and about 32 MB of buffers held
 * for the 100 peers that read nothing.
 */
const RSS_LIMIT = 200 * 2 ** 20;
const TOKEN = 'acceptance-secret';
/**
 * Server defaults, except the two 30 s limits, which would make the test wait 30 s for
 * the slow readers and trickling frames to be cut. The token brings in the default
 * authThrottle (100 ms doubling to 3 s, refusal after 20 failures).
 */
const OPTIONS = { token: TOKEN, slowPeerTimeout: 3000, frameTimeout: 3000 };
/** Every hostile connection must be cut within this long after the attack starts. */
const CUT_WITHIN_MS = 15_000;
const LOAD_MS = scaled(10_000);

/** `RELIABILITY_KINDS=callFlood,tinyKeys` arms only those kinds (to see what each costs). */
const KINDS = process.env.RELIABILITY_KINDS ? HOSTILE_KINDS.filter((k) => process.env.RELIABILITY_KINDS!.split(',').includes(k)) : HOSTILE_KINDS;

const children = new Children();
afterEach(() => children.cleanup());
afterAll(() => children.cleanup());

it(`${PER_KIND} connections of every hostile kind at once, beside ${CLIENTS} good clients`, async () => {
  const { server, load } = await startServerAndLoad(children, OPTIONS, CLIENTS, { token: TOKEN }, true);
  const quiet = await load.run({ durationMs: scaled(3000), intervalMs: INTERVAL_MS });
  console.log(`[reliability] acceptance, quiet: ${describeLoad(quiet)}; server RSS ${mb((await server.stats()).rss)}`);

  const rss = server.sampleRss(100);
  children.defer(() => rss.stop());
  // Where the memory is at the peak (the server's own view, when its event loop answers).
  let peak: Awaited<ReturnType<typeof server.stats>> | undefined;
  const breakdown = setInterval(() => {
    void server.stats(1000).then(
      (s) => {
        if (peak === undefined || s.rss > peak.rss) peak = s;
      },
      () => undefined,
    );
  }, 250);
  children.defer(() => clearInterval(breakdown));

  // Arm every hostile peer (handshakes, 16 at a time), then let them loose together.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const slots = new Semaphore(16);
  const base: HostileContext = {
    server,
    endpoint: server.unix,
    tcp: server.tcp,
    token: TOKEN,
    deadlineMs: CUT_WITHIN_MS,
    gate,
    setupSlots: slots,
  };
  const ready: Array<Promise<unknown>> = [];
  const hostile: Array<Promise<HostileResult>> = [];
  for (let i = 0; i < PER_KIND; i++) {
    for (const kind of KINDS) {
      let onReady!: () => void;
      const isReady = new Promise<void>((resolve) => (onReady = resolve));
      const run = launch(kind, { ...base, onReady }, i);
      hostile.push(run);
      ready.push(Promise.race([isReady, run]));
    }
  }
  const armed = await Promise.race([Promise.all(ready).then(() => true), sleep(60_000).then(() => false)]);
  expect(armed, 'every hostile peer set up within 60 s').toBe(true);
  const afterArming = await server.stats();
  console.log(`[reliability] acceptance: ${hostile.length} hostile peers armed; server has ${afterArming.connections} connections, RSS ${mb(afterArming.rss)}`);

  const loadRun = load.run({ durationMs: LOAD_MS, intervalMs: INTERVAL_MS });
  await sleep(300);
  const attackStarted = Date.now();
  const attackSample = rss.samples;
  open();
  const results = await Promise.all(hostile);
  const allCutAfter = Date.now() - attackStarted;
  const underAttack = await loadRun;
  // Hostile connections must be gone from the server too (after their linger), leaving the good clients.
  let connections = -1;
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(200)) {
    connections = (await server.stats(2000).catch(() => undefined))?.connections ?? -1;
    if (connections === CLIENTS) break;
  }
  rss.stop();
  clearInterval(breakdown);

  // The report: per kind, how many were cut, how fast, and why.
  const lines = [`[reliability] acceptance, under attack: ${describeLoad(underAttack)}`];
  lines.push(`  server RSS max ${mb(rss.max)} over ${rss.samples} samples${rss.killedAt ? ' — KILLED at the safety cap' : ''}; connections after: ${connections}`);
  if (peak !== undefined) {
    lines.push(
      `  at the peak the server said: RSS ${mb(peak.rss)}, heap ${mb(peak.heapUsed)} used of ${mb(peak.heapTotal)}, external ${mb(peak.external)} (array buffers ${mb(peak.arrayBuffers)}), ${peak.connections} connections`,
      `  heap spaces (used/committed): ${Object.entries(peak.spaces)
        .filter(([, s]) => s.size >= 2 ** 20)
        .map(([name, s]) => `${name.replace(/_space$/, '')} ${mb(s.used)}/${mb(s.size)}`)
        .join(', ')}`,
    );
  }
  lines.push(`  RSS every 200 ms from the attack (MB): ${rss.series.slice(attackSample).filter((_, i) => i % 2 === 0).map((b) => Math.round(b / 2 ** 20)).join(' ')}`);
  lines.push(`  all hostile peers done after ${allCutAfter} ms`);
  for (const kind of KINDS) {
    const of = results.filter((r) => r.kind === kind || r.kind.startsWith(`${kind}/`));
    const cut = of.filter((r) => r.cut && r.error === undefined);
    const ms = cut.map((r) => r.ms).sort((a, b) => a - b);
    const codes = [...new Set(of.map((r) => r.serverCode ?? (r.reasons[0] ?? '').split(':')[0] ?? '?'))].join(', ');
    lines.push(`  ${kind}: ${cut.length}/${of.length} cut, median ${ms[Math.floor(ms.length / 2)] ?? '—'} ms, max ${ms[ms.length - 1] ?? '—'} ms; ${codes}`);
  }
  const bad = results.filter((r) => !r.cut || r.error !== undefined);
  for (const r of bad.slice(0, 10)) lines.push(`  ! ${describeResult(r)}`);
  console.log(lines.join('\n'));

  expect.soft(server.alive, 'the server survives').toBe(true);
  expect.soft(underAttack.clients, 'all good clients were running').toBe(CLIENTS);
  expect.soft(underAttack.ok, `good clients: 100 % success (${describeLoad(underAttack)})`).toBe(underAttack.calls);
  expect.soft(underAttack.lost, 'no good client lost its connection').toBe(0);
  expect.soft(rss.max, `server RSS under ${mb(RSS_LIMIT)}`).toBeLessThan(RSS_LIMIT);
  expect.soft(bad.length, `hostile peers not cut within ${CUT_WITHIN_MS} ms (or not set up)`).toBe(0);
  expect.soft(connections, 'the server is left with the good clients only').toBe(CLIENTS);
}, 180_000);
