// Good clients, in a process of their own so that their latencies are not disturbed by
// the hostile peers the test process drives. Run from the compiled package (forked with
// an IPC channel). Commands, each answered with { res: id, ... }:
//
//   { req, cmd: 'connect', endpoint, clients, options }  -> { connected }
//   { req, cmd: 'run', durationMs, intervalMs, callTimeout, payloadBytes }
//       -> { calls, ok, failures: { code: count }, firstFailures: [..], p50, p99, max, mean }
//   { req, cmd: 'close' } -> {}
//
// Each client calls `echo` in a loop (one call at a time, then waits `intervalMs`) and
// checks the answer; a wrong answer counts as a failure (code 'MISMATCH').
import { connect } from '../../../dist/src/index.js';

process.on('disconnect', () => process.exit(0));

/** @type {import('../../../src/index.js').Connection[]} */
let connections = [];

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function connectAll(endpoint, clients, options) {
  const started = Date.now();
  const results = await Promise.allSettled(
    Array.from({ length: clients }, (_, i) => connect(endpoint, { name: `good-${i}`, connectTimeout: 10_000, ...options })),
  );
  connections = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  const errors = results.filter((r) => r.status === 'rejected').map((r) => `${r.reason?.code}: ${r.reason?.message}`);
  return { connected: connections.length, errors: errors.slice(0, 5), ms: Date.now() - started };
}

async function run({ durationMs, intervalMs = 0, callTimeout = 5000, payloadBytes = 64 }) {
  const latencies = [];
  const failures = {};
  const firstFailures = [];
  let calls = 0;
  let ok = 0;
  const until = performance.now() + durationMs;
  const pad = 'x'.repeat(payloadBytes);
  const one = async (conn, ci) => {
    let i = 0;
    while (performance.now() < until) {
      const params = { c: ci, i: i++, pad };
      const start = performance.now();
      calls++;
      try {
        const answer = await conn.call('echo', params, { timeout: callTimeout });
        latencies.push(performance.now() - start);
        if (answer === null || typeof answer !== 'object' || answer.c !== ci || answer.i !== params.i || answer.pad !== pad) {
          failures.MISMATCH = (failures.MISMATCH ?? 0) + 1;
        } else {
          ok++;
        }
      } catch (err) {
        latencies.push(performance.now() - start);
        const code = err?.code ?? String(err);
        failures[code] = (failures[code] ?? 0) + 1;
        if (firstFailures.length < 5) firstFailures.push(`${code}: ${err?.message}`);
        // A connection that is gone stays gone: do not spin on it.
        if (conn.state === 'closed' || conn.state === 'closing') return;
      }
      if (intervalMs > 0) await sleep(intervalMs);
    }
  };
  await Promise.all(connections.map((c, i) => one(c, i)));
  const sorted = Float64Array.from(latencies).sort();
  const sum = latencies.reduce((a, b) => a + b, 0);
  const lost = connections.filter((c) => c.state !== 'connected').length;
  return {
    clients: connections.length,
    lost,
    calls,
    ok,
    failures,
    firstFailures,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : 0,
    mean: latencies.length ? sum / latencies.length : 0,
  };
}

process.on('message', async (msg) => {
  if (msg === null || typeof msg !== 'object' || typeof msg.req !== 'number') return;
  let reply;
  try {
    if (msg.cmd === 'connect') reply = await connectAll(msg.endpoint, msg.clients, msg.options ?? {});
    else if (msg.cmd === 'run') reply = await run(msg);
    else if (msg.cmd === 'close') {
      await Promise.all(connections.map((c) => c.close({ drainTimeout: 200 }).catch(() => {})));
      connections = [];
      reply = {};
    } else reply = { error: `unknown command ${msg.cmd}` };
  } catch (err) {
    reply = { error: `${err?.code}: ${err?.message}` };
  }
  if (process.connected) process.send({ res: msg.req, ...reply });
});

process.send({ ev: 'ready' });
