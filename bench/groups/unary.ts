/**
 * Unary calls with a small argument: sequential latency and pipelined throughput.
 *
 * - sequential: `await client.call('echo', small)` in a loop, one call in flight.
 * - pipelined K: K workers each awaiting their own call in a loop, so K calls are in
 *   flight at all times (closed loop); latency is then the latency under that load.
 *
 * Every mode runs against wirecall with the server in a child process and in this
 * process, grpc-js (child process) and, for the sequential case, a raw-socket echo.
 */
import { closedLoop } from '../lib/loops.js';
import { TRANSPORTS } from '../lib/sockets.js';
import { openEchoClient, type EchoClient, type Impl } from './echo.js';
import { SMALL, type Prepared, type Scenario } from './scenario.js';
import type { Placement } from './servers.js';

interface Mode {
  name: string;
  title: string;
  inFlight: number;
  timeout?: number;
  impls: readonly [Impl, Placement][];
}

const ALL: readonly [Impl, Placement][] = [
  ['wirecall', 'child'],
  ['wirecall', 'in-process'],
  ['grpc-js', 'child'],
];

const MODES: readonly Mode[] = [
  { name: 'sequential', title: 'sequential (1 in flight)', inFlight: 1, impls: [...ALL, ['raw', 'child']] },
  {
    name: 'sequential-timeout',
    title: 'sequential, every call with timeout',
    inFlight: 1,
    timeout: 5000,
    impls: [
      ['wirecall', 'child'],
      ['wirecall', 'in-process'],
    ],
  },
  { name: 'pipelined-16', title: 'pipelined, 16 in flight', inFlight: 16, impls: ALL },
  { name: 'pipelined-256', title: 'pipelined, 256 in flight', inFlight: 256, impls: ALL },
];

export function unaryScenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const mode of MODES) {
    for (const transport of TRANSPORTS) {
      for (const [impl, server] of mode.impls) {
        const key = `unary/${mode.name}/${transport}/${server}`;
        out.push({
          id: `${key}/${impl}`,
          group: 'unary',
          title: mode.title,
          impl,
          server,
          transport,
          unit: 'calls/s',
          compareKey: key,
          params: { inFlight: mode.inFlight, argBytes: SMALL.length, ...(mode.timeout === undefined ? {} : { timeoutMs: mode.timeout }) },
          prepare: async ({ servers }): Promise<Prepared> => {
            const endpoint = await servers.endpoint(impl, server, transport);
            const options = mode.timeout === undefined ? {} : { timeout: mode.timeout };
            const client: EchoClient = await openEchoClient(impl, endpoint, { ...options, messageSize: SMALL.length });
            const op = (): Promise<unknown> => client.call(SMALL);
            return {
              run: (budget) => closedLoop([op], mode.inFlight, budget),
              close: () => client.close(),
            };
          },
        });
      }
    }
  }
  return out;
}
