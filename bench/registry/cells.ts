/**
 * The measurements of one backend with N instances present: register (and the
 * deregister that keeps N constant), heartbeat of one instance, heartbeats of many
 * instances at once from one process, list, and watch latency. Every loop is bounded by
 * a time budget and an op count; what was done is recorded.
 */
import { randomUUID } from 'node:crypto';
import { LatencyRecorder, percentile } from '../lib/stats.js';
import { DCC_TYPE, ROW_OPTIONS, endpointFor, type Backend } from './backends.js';

export interface Budget {
  /** Issue no new op after this long (ms); ops in flight finish. */
  ms: number;
  maxOps: number;
  /** Heartbeats in flight for "many at once" (at most the instances present). */
  manyInFlight: number;
}

export interface Cell {
  op: string;
  inFlight: number;
  ops: number;
  /** Wall-clock seconds of the loop (for sequential loops: the time spent in this op only). */
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  opsPerSec: number;
  /** Ops that answered unexpectedly (a heartbeat false, a list of the wrong size). */
  failed: number;
}

function cell(op: string, inFlight: number, lat: LatencyRecorder, seconds: number, failed: number): Cell {
  const sorted = lat.sorted();
  const ops = lat.count;
  return { op, inFlight, ops, seconds, p50Ms: percentile(sorted, 50) / 1000, p99Ms: percentile(sorted, 99) / 1000, opsPerSec: seconds > 0 ? ops / seconds : 0, failed };
}

/** `width` workers each issuing op(i) as soon as its previous one settles, until the budget runs out. */
async function closedLoop(width: number, budget: Budget, op: (i: number) => Promise<boolean>): Promise<{ lat: LatencyRecorder; seconds: number; failed: number }> {
  const lat = new LatencyRecorder();
  let issued = 0;
  let failed = 0;
  const start = performance.now();
  const deadline = start + budget.ms;
  const worker = async (): Promise<void> => {
    while (issued < budget.maxOps && performance.now() < deadline) {
      const i = issued++;
      const t0 = performance.now();
      const ok = await op(i);
      lat.push((performance.now() - t0) * 1000);
      if (!ok) failed++;
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return { lat, seconds: (performance.now() - start) / 1000, failed };
}

export async function measureBackend(backend: Backend, budget: Budget, progress: (m: string) => void): Promise<Cell[]> {
  const { registry, ids } = backend;
  const n = ids.length;
  const cells: Cell[] = [];

  // register + deregister pairs: the population stays at n (n + 1 for an instant).
  progress('register');
  {
    const reg = new LatencyRecorder();
    const dereg = new LatencyRecorder();
    let regUs = 0;
    let deregUs = 0;
    let failed = 0;
    const deadline = performance.now() + budget.ms;
    for (let i = 0; i < budget.maxOps && performance.now() < deadline; i++) {
      const t0 = performance.now();
      const entry = await registry.register(DCC_TYPE, endpointFor(n + 1 + i), ROW_OPTIONS);
      const t1 = performance.now();
      if (!(await registry.deregister(DCC_TYPE, entry.instanceId))) failed++;
      const t2 = performance.now();
      reg.push((t1 - t0) * 1000);
      dereg.push((t2 - t1) * 1000);
      regUs += (t1 - t0) * 1000;
      deregUs += (t2 - t1) * 1000;
    }
    cells.push(cell('register', 1, reg, regUs / 1e6, 0), cell('deregister', 1, dereg, deregUs / 1e6, failed));
  }

  progress('heartbeat');
  {
    const id = ids[0]!;
    const r = await closedLoop(1, budget, () => registry.heartbeat(DCC_TYPE, id));
    cells.push(cell('heartbeat, one instance', 1, r.lat, r.seconds, r.failed));
  }

  progress('heartbeat many');
  {
    // Distinct instances, as a process hosting many instances heartbeats each of its own.
    const width = Math.min(budget.manyInFlight, n);
    const r = await closedLoop(width, budget, (i) => registry.heartbeat(DCC_TYPE, ids[i % n]!));
    cells.push(cell('heartbeat, many at once', width, r.lat, r.seconds, r.failed));
  }

  progress('list');
  {
    const r = await closedLoop(1, budget, async () => (await registry.listInstances(DCC_TYPE)).length === n);
    cells.push(cell('list (all of one type)', 1, r.lat, r.seconds, r.failed));
  }

  progress('watch');
  cells.push(...(await measureWatch(backend, budget)));
  return cells;
}

/** Longest wait for one event before the cell gives up (the file backend at 10,000 rows is slow). */
const EVENT_TIMEOUT_MS = 30_000;

/**
 * Change → event: the time from calling register (deregister) to the watcher, a second
 * client of the registry, receiving the `up` (`down`) event; one change at a time.
 */
async function measureWatch(backend: Backend, budget: Budget): Promise<Cell[]> {
  const stop = new AbortController();
  const waiters = new Map<string, (t: number) => void>();
  let ready!: () => void;
  const snapshot = new Promise<void>((resolve) => (ready = resolve));
  const pump = (async () => {
    for await (const ev of backend.watch(stop.signal)) {
      const t = performance.now();
      if (ev.type === 'snapshot') {
        ready();
        continue;
      }
      const id = ev.type === 'up' || ev.type === 'status' ? ev.entry.instanceId : ev.instanceId;
      const kind = ev.type === 'expire' ? 'down' : ev.type;
      const waiter = waiters.get(`${kind}:${id}`);
      waiters.delete(`${kind}:${id}`);
      waiter?.(t);
    }
  })().catch(() => undefined);
  const timers = new Set<NodeJS.Timeout>();
  const expect = (kind: string, id: string): Promise<number> => {
    const seen = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`watch: no ${kind} event for ${id} within ${EVENT_TIMEOUT_MS} ms`)), EVENT_TIMEOUT_MS);
      timers.add(timer);
      waiters.set(`${kind}:${id}`, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
    seen.catch(() => undefined); // awaited below; this only keeps a failed change from also being an unhandled rejection
    return seen;
  };
  const up = new LatencyRecorder();
  const down = new LatencyRecorder();
  let upUs = 0;
  let downUs = 0;
  try {
    await snapshot;
    const deadline = performance.now() + budget.ms;
    for (let i = 0; i < budget.maxOps && performance.now() < deadline; i++) {
      const id = randomUUID();
      const seenUp = expect('up', id);
      const t0 = performance.now();
      await backend.registry.register(DCC_TYPE, endpointFor(i), { ...ROW_OPTIONS, instanceId: id });
      const us0 = ((await seenUp) - t0) * 1000;
      const seenDown = expect('down', id);
      const t1 = performance.now();
      await backend.registry.deregister(DCC_TYPE, id);
      const us1 = ((await seenDown) - t1) * 1000;
      up.push(us0);
      down.push(us1);
      upUs += us0;
      downUs += us1;
    }
  } finally {
    for (const t of timers) clearTimeout(t);
    stop.abort();
    await pump;
  }
  return [cell('watch: register → up event', 1, up, upUs / 1e6, 0), cell('watch: deregister → down event', 1, down, downUs / 1e6, 0)];
}
