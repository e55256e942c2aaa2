/**
 * A spec client process: every system's client runs in a process of its own, so one
 * system's garbage, JIT state or library side effects (grpc-js changes how later Buffer
 * traffic is garbage-collected, see docs/PERFORMANCE.md) never touch the measurement of
 * another. Both sides: the parent starts it and sends requests, the child answers them.
 *
 * Requests: `open` (connect to the endpoint, one checked round trip), `warm` (`ms` of
 * pipelined calls, then one stream of each kind), `run` (one run of a scenario; answers
 * with its metrics, or why the system cannot run it), `close`.
 */
import { closedLoop } from '../lib/loops.js';
import { Child, answerRequests, tellParent, type Reply } from '../lib/processes.js';
import { toMetrics, type RunMetrics } from '../lib/stats.js';
import { PARAMS, type SystemClient, type SystemName } from '../systems/common.js';
import { openSystemClient } from '../systems/index.js';
import { STREAM_COUNT, runScenario, type SpecScenario } from './scenarios.js';

/** Parent → client process. */
export interface ClientRequest {
  op: 'open' | 'run' | 'warm' | 'close';
  endpoint?: string;
  scenario?: SpecScenario;
  ms?: number;
  maxOps?: number;
}

/** Client process → parent. */
export interface ClientReply extends Reply {
  metrics?: RunMetrics;
  /** The system cannot run this scenario: why. */
  unsupported?: string;
}

export type ClientProcess = Child<ClientRequest, ClientReply>;

/** A system's client in its own process (`child.js client <system>`), connected to `endpoint`. */
export async function startClientProcess(system: SystemName, endpoint: string): Promise<ClientProcess> {
  const { child } = await Child.start<ClientRequest, ClientReply>(`${system} client`, ['client', system]);
  try {
    await child.request({ op: 'open', endpoint }, 20_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return child;
}

/** In the client process: answer the parent's requests until it goes away. */
export async function serveClient(system: SystemName): Promise<void> {
  let client: SystemClient | undefined;
  answerRequests<ClientRequest, ClientReply>(async (req) => {
    switch (req.op) {
      case 'open': {
        client = await openSystemClient(system, req.endpoint!);
        // One checked round trip: the echo really echoes.
        const reply = (await client.unary()) as { x?: unknown; name?: unknown } | undefined;
        if (reply?.x !== PARAMS.x || reply?.name !== PARAMS.name) throw new Error(`echo returned ${JSON.stringify(reply)}`);
        return { id: req.id, ok: true };
      }
      case 'warm': {
        // Pipelined calls, then one stream of each kind: JIT and socket buffers warm.
        await closedLoop([client!.unary], 16, { ms: req.ms!, maxOps: 10_000_000 });
        if (client!.stream !== undefined) {
          await client!.stream('small', STREAM_COUNT.small);
          await client!.stream('chunks', STREAM_COUNT.chunks);
        }
        return { id: req.id, ok: true };
      }
      case 'run': {
        const scenario = req.scenario!;
        if (scenario.startsWith('stream') && client!.stream === undefined) {
          return { id: req.id, ok: true, unsupported: client!.streamUnsupported ?? 'no streams' };
        }
        const sample = await runScenario(client!, scenario, { ms: req.ms!, maxOps: req.maxOps! });
        return { id: req.id, ok: true, metrics: toMetrics(sample) };
      }
      case 'close':
        await client?.close();
        client = undefined;
        return { id: req.id, ok: true };
    }
  });
  await tellParent({ type: 'ready' });
}
