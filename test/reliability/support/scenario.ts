/**
 * One run of the suite's basic experiment: a server child, good clients in a load child
 * calling it for a fixed time, hostile peers started a little into the run, the server's
 * RSS sampled throughout. Everything is bounded in time.
 */
import { Children, LoadProcess, ServerProcess, mb, sleep, type LoadOptions, type LoadResult, type RssSampler } from './harness.js';
import { describeResult, type HostileContext, type HostileResult } from './hostile.js';

/**
 * Scale of the suite. `RELIABILITY_SCALE=long` runs the loads 3× longer; the default
 * keeps the whole suite within a few minutes on a 2-core machine.
 */
export const LONG = process.env.RELIABILITY_SCALE === 'long';
export const scaled = (ms: number): number => (LONG ? ms * 3 : ms);

/** p99 under attack may be this many times the quiet p99, but never needs to be under the floor. */
export const P99_FACTOR = 10;
export const P99_FLOOR_MS = 50;
export const p99Bound = (quiet: number): number => Math.max(P99_FACTOR * quiet, P99_FLOOR_MS);

export interface AttackRun {
  server: ServerProcess;
  load: LoadResult;
  hostile: HostileResult[];
  rss: RssSampler;
  /** Server stats when the load ended. */
  connectionsAfter: number | undefined;
}

export interface AttackOptions {
  serverOptions: Record<string, unknown>;
  clients: number;
  /** Options for the good clients' connections (e.g. the token). */
  clientOptions?: Record<string, unknown>;
  load: LoadOptions;
  /** Hostile peers start this long after the load. */
  attackAfterMs?: number;
  /** Start the hostile peers; they resolve when cut (or given up). */
  attack?: (ctx: Omit<HostileContext, 'deadlineMs'>) => Promise<HostileResult[]>;
  tcp?: boolean;
  /** Measure the quiet p99 on this server first (same clients, no hostile peers). */
  quiet?: LoadOptions;
}

/** Start a server child and the good clients connected to it. */
export async function startServerAndLoad(
  children: Children,
  serverOptions: Record<string, unknown>,
  clients: number,
  clientOptions: Record<string, unknown> = {},
  tcp = false,
): Promise<{ server: ServerProcess; load: LoadProcess }> {
  const server = await ServerProcess.start(children, serverOptions, { tcp });
  const load = await LoadProcess.start(children, server.unix, clients, clientOptions);
  children.defer(() => load.close());
  return { server, load };
}

export async function runAttack(children: Children, o: AttackOptions): Promise<AttackRun & { quiet?: LoadResult }> {
  const { server, load } = await startServerAndLoad(children, o.serverOptions, o.clients, o.clientOptions, o.tcp ?? false);
  let quiet: LoadResult | undefined;
  if (o.quiet !== undefined) quiet = await load.run(o.quiet);
  const rss = server.sampleRss(100);
  children.defer(() => rss.stop());
  const loadRun = load.run(o.load);
  let hostile: Promise<HostileResult[]> = Promise.resolve([]);
  if (o.attack !== undefined) {
    await sleep(o.attackAfterMs ?? 300);
    hostile = o.attack({ server, endpoint: server.unix, tcp: server.tcp, token: o.serverOptions.token as string | undefined });
  }
  const [loadResult, hostileResults] = await Promise.all([loadRun, hostile]);
  let connectionsAfter: number | undefined;
  if (server.alive) connectionsAfter = (await server.stats(10_000).catch(() => undefined))?.connections;
  rss.stop();
  return { server, load: loadResult, hostile: hostileResults, rss, connectionsAfter, ...(quiet ? { quiet } : {}) };
}

export function describeLoad(r: LoadResult): string {
  const failed = Object.entries(r.failures)
    .map(([code, n]) => `${code}×${n}`)
    .join(', ');
  return (
    `${r.ok}/${r.calls} ok, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(1)} ms` +
    (failed ? `; failures: ${failed} (${r.firstFailures.join(' | ')})` : '') +
    (r.lost ? `; ${r.lost} clients lost their connection` : '')
  );
}

export function report(title: string, run: AttackRun, extra: string[] = []): void {
  const lines = [
    `[reliability] ${title}`,
    `  good clients: ${describeLoad(run.load)}`,
    `  server RSS max ${mb(run.rss.max)} (${run.rss.samples} samples)${run.rss.killedAt ? ' — KILLED at the safety cap' : ''}${run.server.alive ? '' : ' — server died'}`,
    ...run.hostile.slice(0, 12).map((h) => `  ${describeResult(h)}`),
    ...(run.hostile.length > 12 ? [`  … ${run.hostile.length - 12} more hostile peers`] : []),
    ...extra.map((e) => `  ${e}`),
  ];
  console.log(lines.join('\n'));
}
