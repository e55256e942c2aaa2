/**
 * Memory held by calls in flight (issue 4: 10 000 calls in flight on one connection
 * must add less than 100 MB of heap).
 *
 * Runs in a process of its own started with --expose-gc (child.js memory), against
 * a wirecall server in another process whose `hold` handler keeps every call pending
 * until `release`. After one unmeasured round (JIT, table growth), it collects garbage,
 * reads `process.memoryUsage()`, issues 10 000 `hold` calls and keeps their promises
 * (as an application would), waits until the server holds all of them, collects garbage
 * again and reads the heap: the difference is what 10 000 pending calls cost the caller.
 * The server reports its own heap the same way. Then everything is released and awaited.
 */
import { connect } from '../../src/index.js';
import { Child } from '../lib/processes.js';
import type { TransportKind } from '../lib/sockets.js';
import { PARAMS } from '../systems/common.js';
import { startServerProcess } from '../systems/index.js';

/** The probe's id, for --filter and --list. */
export const MEMORY_ID = 'memory/unix/wirecall';

export const HELD_CALLS = 10_000;
const MB = 1e6;

export interface MemoryResult {
  system: 'wirecall';
  transport: TransportKind;
  calls: number;
  /** Caller: V8 heap used before the calls and with all of them pending (after a full GC), MB. */
  client_heap_before_mb: number;
  client_heap_pending_mb: number;
  /** What the pending calls added to the caller's heap, MB (the figure the target is about). */
  heap_delta_mb: number;
  bytes_per_call: number;
  /** Change in memory outside the V8 heap (Buffers, ArrayBuffers), MB. */
  external_delta_mb: number;
  /** Caller's heap after all calls finished and a GC, minus before, MB. */
  client_heap_after_release_delta_mb: number;
  /** Server: heap added by holding the 10 000 calls, MB. */
  server_heap_delta_mb: number;
  /** Time from the first call to the server holding all of them, ms. */
  fill_ms: number;
}

const gc = (): void => {
  const f = (globalThis as { gc?: () => void }).gc;
  if (f === undefined) throw new Error('the memory probe needs --expose-gc');
  f();
  f();
};

const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** Inside the probe process. */
export async function measureHeldCalls(transport: TransportKind): Promise<MemoryResult> {
  const server = await startServerProcess('wirecall', transport, { execArgv: ['--expose-gc'], maxConcurrentCalls: HELD_CALLS * 2 });
  const conn = await connect(server.endpoint, { name: 'bench-memory' });
  try {
    const fill = async (): Promise<{ calls: Promise<unknown>[]; ms: number }> => {
      const start = performance.now();
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < HELD_CALLS; i++) calls.push(conn.call('hold', PARAMS));
      // Bounded wait until the server holds them all.
      for (let i = 0; i < 1000; i++) {
        if ((await conn.call('held')) === HELD_CALLS) return { calls, ms: performance.now() - start };
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`the server never held ${HELD_CALLS} calls`);
    };
    // Unmeasured round.
    const warm = await fill();
    await conn.call('release');
    await Promise.all(warm.calls);

    const serverBefore = (await conn.call('heap')) as number;
    gc();
    const before = process.memoryUsage();
    const { calls, ms } = await fill();
    gc();
    const pending = process.memoryUsage();
    const serverPending = (await conn.call('heap')) as number;
    if (conn.pendingCalls < HELD_CALLS) throw new Error(`only ${conn.pendingCalls} calls pending`);
    await conn.call('release');
    await Promise.all(calls);
    gc();
    const after = process.memoryUsage();
    const external = (m: NodeJS.MemoryUsage): number => m.external + m.arrayBuffers;
    return {
      system: 'wirecall',
      transport,
      calls: HELD_CALLS,
      client_heap_before_mb: round(before.heapUsed / MB),
      client_heap_pending_mb: round(pending.heapUsed / MB),
      heap_delta_mb: round((pending.heapUsed - before.heapUsed) / MB),
      bytes_per_call: Math.round((pending.heapUsed - before.heapUsed) / HELD_CALLS),
      external_delta_mb: round((external(pending) - external(before)) / MB),
      client_heap_after_release_delta_mb: round((after.heapUsed - before.heapUsed) / MB),
      server_heap_delta_mb: round((serverPending - serverBefore) / MB),
      fill_ms: round(ms, 1),
    };
  } finally {
    conn.destroy();
    await server.close();
  }
}

/** From the benchmark: run the probe in a fresh process with --expose-gc (bounded: 2 minutes). */
export async function measureMemory(transport: TransportKind = 'unix'): Promise<MemoryResult> {
  const { child, ready } = await Child.start('memory probe', ['memory', transport], ['--expose-gc'], 120_000);
  await child.stop();
  return ready.result as MemoryResult;
}
