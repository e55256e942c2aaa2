/**
 * The paper estimate: how many instances one Redis holds at a 5 s heartbeat, from the
 * memory one instance takes and the heartbeat rate one server sustains, each from more
 * than one measurement so they check each other.
 */
import { fmtNum, fmtSig, markdownTable } from '../lib/stats.js';
import type { RedisMemory } from './backends.js';
import type { CapacityRun, ListCost } from './capacity.js';

export const HEARTBEAT_S = 5;
/** Keep the server at half a core for heartbeats: registers, lists, watches and bursts need the rest. */
export const HEADROOM = 0.5;

export interface RateBasis {
  basis: string;
  heartbeatsPerSec: number;
  instancesAt5s: number;
  instancesWithHeadroom: number;
}

export interface Estimate {
  /** Bytes per instance: its hash + its member in the type's index (MEMORY USAGE). */
  keyBytesPerInstance: number;
  /** Bytes per instance from INFO used_memory, the event stream left out (it is capped). */
  infoBytesPerInstance: number;
  /** The event stream, capped at about streamMaxLen entries whatever the instance count. */
  streamBytes: number;
  streamEntries: number;
  rates: RateBasis[];
  /** The instances the memory of 1 GiB holds (INFO basis). */
  instancesPerGiB: number;
  /** Heartbeats per Redis CPU-second, the lowest of the runs: what one busy core does. */
  planningRate?: number;
  /** The best rate RedisRegistry clients (one Node process) reached here. */
  measuredNodeRate: number;
}

export function estimate(memory: RedisMemory, runs: readonly CapacityRun[]): Estimate {
  const n = memory.instances;
  const streamBytes = memory.byKind['events'] ?? 0;
  const keyBytesPerInstance = memory.instKeyMean + (memory.byKind['idx'] ?? 0) / n;
  const infoBytesPerInstance = (memory.usedAfter - memory.usedBefore - streamBytes) / n;
  const rates: RateBasis[] = [];
  const basis = (name: string, rate: number): void => {
    if (!Number.isFinite(rate) || rate <= 0) return;
    rates.push({ basis: name, heartbeatsPerSec: rate, instancesAt5s: rate * HEARTBEAT_S, instancesWithHeadroom: rate * HEARTBEAT_S * HEADROOM });
  };
  const perCpuSecond: number[] = [];
  for (const r of runs) {
    basis(`measured: ${r.what}, ${r.clients} conn × ${r.inFlight}`, r.opsPerSec);
    // Heartbeats per second of the server's own CPU: what one whole core would do, whether
    // the run was client-bound or the server was starved by other processes (2 shared vCPUs).
    if (r.serverCores > 0.05) {
      perCpuSecond.push(r.opsPerSec / r.serverCores);
      basis(`  same, per Redis CPU-second (server used ${fmtSig(r.serverCores)} cores)`, r.opsPerSec / r.serverCores);
    }
  }
  const perCalls = runs.map((r) => r.usecPerCall).filter((v): v is number => v !== undefined && v > 0);
  // The least disturbed run (others' processes preempt the server mid-script and inflate it).
  const perCall = perCalls.length === 0 ? undefined : Math.min(...perCalls);
  if (perCall !== undefined) basis(`upper bound: script time only (${fmtSig(perCall)} µs per EVALSHA, no I/O)`, 1e6 / perCall);
  const nodeRuns = runs.filter((r) => r.what.startsWith('RedisRegistry'));
  const planningRate = perCpuSecond.length === 0 ? undefined : Math.min(...perCpuSecond);
  return {
    keyBytesPerInstance,
    infoBytesPerInstance,
    streamBytes,
    streamEntries: memory.streamLength,
    rates,
    instancesPerGiB: 2 ** 30 / infoBytesPerInstance,
    ...(planningRate === undefined ? {} : { planningRate }),
    measuredNodeRate: Math.max(0, ...nodeRuns.map((r) => r.opsPerSec)),
  };
}

export function estimateMarkdown(e: Estimate, memory: RedisMemory, list?: ListCost): string {
  const lines: string[] = [];
  lines.push(`Memory, measured with ${fmtNum(memory.instances)} instances (INFO used_memory after FLUSHALL, then after registering them; MEMORY USAGE … SAMPLES 0 on ${memory.instKeysSampled} instance hashes and on the other keys):\n`);
  lines.push(
    markdownTable(
      ['what', 'bytes'],
      [
        ['used_memory before → after', `${fmtNum(memory.usedBefore)} → ${fmtNum(memory.usedAfter)}`],
        ['instance hash (mean)', fmtNum(memory.instKeyMean)],
        ...Object.entries(memory.byKind).map(([kind, bytes]) => [`${kind} key(s), total`, fmtNum(bytes)]),
        [`event stream: ${fmtNum(e.streamEntries)} entries (capped), per entry`, fmtNum(e.streamEntries > 0 ? e.streamBytes / e.streamEntries : 0)],
        ['**per instance: hash + index member**', `**${fmtNum(e.keyBytesPerInstance)}**`],
        ['**per instance: INFO delta − stream**', `**${fmtNum(e.infoBytesPerInstance)}**`],
      ],
    ),
  );
  lines.push(`\n1 GiB holds about ${fmtNum(e.instancesPerGiB)} instances (plus the stream, ${fmtSig(e.streamBytes / 2 ** 20)} MiB at its cap).\n`);
  lines.push(`Heartbeat rate → instances at one heartbeat every ${HEARTBEAT_S} s (and with the server kept at ${HEADROOM * 100} %):\n`);
  lines.push(
    markdownTable(
      ['basis', 'heartbeats/s', `instances at ${HEARTBEAT_S} s`, `at ${HEADROOM * 100} % load`, 'memory at that count'],
      e.rates.map((r) => [r.basis, fmtNum(r.heartbeatsPerSec), fmtNum(r.instancesAt5s), fmtNum(r.instancesWithHeadroom), `${fmtSig((r.instancesWithHeadroom * e.infoBytesPerInstance) / 2 ** 20)} MiB`]),
    ),
  );
  if (e.planningRate !== undefined) {
    const at100 = e.planningRate * HEARTBEAT_S;
    const planned = at100 * HEADROOM;
    lines.push(
      `\nPlanning figure: one Redis core does about ${fmtNum(e.planningRate)} heartbeats/s (the lowest per-CPU-second rate above), so ` +
        `${fmtNum(at100)} instances at a ${HEARTBEAT_S} s heartbeat would fill it; keeping it at ${HEADROOM * 100} % gives about ` +
        `**${fmtNum(planned)} instances**, ${fmtSig((planned * e.infoBytesPerInstance) / 2 ** 20)} MiB of rows. Check: they need ` +
        `${fmtNum(planned / HEARTBEAT_S)} heartbeats/s; one Node process with RedisRegistry clients reached ${fmtNum(e.measuredNodeRate)}/s here ` +
        `(${fmtSig(e.measuredNodeRate / (planned / HEARTBEAT_S))}× the need; real clients are spread over many hosts).`,
    );
  }
  if (list !== undefined && Number.isFinite(list.serverMs)) {
    const perInstanceMs = list.serverMs / list.instances;
    const planned = (e.planningRate ?? 0) * HEARTBEAT_S * HEADROOM;
    lines.push(
      `\nLists are what does not scale: listing all ${fmtNum(list.instances)} instances of a type is one atomic script that held the server ` +
        `${fmtSig(list.serverMs)} ms (INFO commandstats, median client time ${fmtSig(list.clientMs)} ms, ${list.lists} lists), ` +
        `${fmtSig(perInstanceMs * 1000)} µs per instance listed` +
        (planned > 0 ? `; one list of ${fmtNum(planned)} instances would stall every heartbeat for about ${fmtSig((perInstanceMs * planned) / 1000)} s.` : '.'),
    );
  }
  return lines.join('\n');
}
