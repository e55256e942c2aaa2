/**
 * The processes of the spec suite (bench/spec.ts). Forked as:
 *
 *   spec-child.js server <system> <tcp|unix> [maxConcurrentCalls]
 *       start that system's server; sends `{ type: 'ready', endpoint }`.
 *   spec-child.js client <system>
 *       a client process: every system's client runs in a process of its own, so one
 *       system's garbage, JIT state or library side effects (grpc-js changes how later
 *       Buffer traffic is garbage-collected, see docs/PERFORMANCE.md) never touch the
 *       measurement of another. Requests: `{ id, op: 'open', endpoint }`,
 *       `{ id, op: 'run', scenario, ms, maxOps }` (answers `{ id, ok, metrics }`),
 *       `{ id, op: 'warm', ms }`, `{ id, op: 'close' }`.
 *   spec-child.js memory <tcp|unix>
 *       the memory probe (bench/memory.ts); started with --expose-gc.
 *
 * Every child exits when its parent goes away (IPC disconnect).
 */
import { closedLoop, type RunBudget } from './lib/loops.js';
import type { TransportKind } from './lib/sockets.js';
import { toMetrics, type Sample } from './lib/stats.js';
import { measureHeldCalls } from './memory.js';
import { exitWhenParentStops } from './servers.js';
import {
  CHUNK_SIZE,
  PARAMS,
  STREAM_COUNT,
  SYSTEMS,
  type ClientReply,
  type ClientRequest,
  type SpecScenario,
  type StreamKind,
  type SystemClient,
  type SystemName,
} from './systems/common.js';
import { openSystemClient, startSystemServer } from './systems/index.js';

const send = (m: unknown): void => {
  process.send!(m);
};

/** Streams of `count` messages, one after another, until the budget is spent. */
async function streamLoop(client: SystemClient, kind: StreamKind, budget: RunBudget): Promise<Sample> {
  const count = STREAM_COUNT[kind];
  let messages = 0;
  const start = performance.now();
  const deadline = start + budget.ms;
  do {
    const n = await client.stream!(kind, count);
    if (n !== count) throw new Error(`stream ${kind}: received ${n} messages, expected ${count}`);
    messages += n;
  } while (performance.now() < deadline && messages < budget.maxOps);
  const sample: Sample = { ops: messages, seconds: (performance.now() - start) / 1000 };
  if (kind === 'chunks') sample.bytes = messages * CHUNK_SIZE;
  return sample;
}

async function runScenario(client: SystemClient, scenario: SpecScenario, budget: RunBudget): Promise<Sample> {
  switch (scenario) {
    case 'unary-c1':
      return closedLoop([client.unary], 1, budget);
    case 'unary-c256':
      return closedLoop([client.unary], 256, budget);
    case 'stream-small':
      return streamLoop(client, 'small', budget);
    case 'stream-64k':
      return streamLoop(client, 'chunks', budget);
  }
}

async function clientMain(system: SystemName): Promise<void> {
  let client: SystemClient | undefined;
  const handle = async (req: ClientRequest): Promise<ClientReply> => {
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
  };
  process.on('message', (req: ClientRequest) => {
    if (typeof req?.op !== 'string') return; // 'stop': the parent disconnects next
    handle(req).then(send, (err: unknown) => send({ id: req.id, ok: false, error: String((err as Error)?.stack ?? err) }));
  });
  send({ type: 'ready' });
}

async function serverMain(system: SystemName, transport: TransportKind, maxConcurrentCalls?: number): Promise<void> {
  const server = await startSystemServer(system, transport, maxConcurrentCalls === undefined ? {} : { maxConcurrentCalls });
  exitWhenParentStops(() => server.close());
  send({ type: 'ready', endpoint: server.endpoint });
}

async function main(): Promise<void> {
  const [role, a, b, c] = process.argv.slice(2);
  if (process.send === undefined) {
    console.error('spec-child.js is started by the benchmark (bench/run.ts), not by hand');
    process.exit(2);
  }
  try {
    if (role === 'server' && SYSTEMS.includes(a as SystemName) && (b === 'tcp' || b === 'unix')) {
      await serverMain(a as SystemName, b, c === undefined ? undefined : Number(c));
    } else if (role === 'client' && SYSTEMS.includes(a as SystemName)) {
      process.on('disconnect', () => process.exit(0));
      await clientMain(a as SystemName);
    } else if (role === 'memory' && (a === 'tcp' || a === 'unix')) {
      process.on('disconnect', () => process.exit(0));
      const result = await measureHeldCalls(a);
      process.send({ type: 'ready', result }, () => process.exit(0));
    } else {
      throw new Error(`usage: spec-child.js server <system> <tcp|unix> | client <system> | memory <tcp|unix>; got ${process.argv.slice(2).join(' ')}`);
    }
  } catch (err) {
    process.send({ type: 'error', error: String((err as Error)?.stack ?? err) }, () => process.exit(1));
  }
}

void main();
