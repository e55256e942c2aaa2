/**
 * Many connections to one server: CLIENTS clients (each its own socket), each with
 * IN_FLIGHT calls in flight, all driven from this process. Reports the total.
 */
import { closedLoop } from '../lib/loops.js';
import { TRANSPORTS } from '../lib/sockets.js';
import { openEchoClient, type EchoClient, type Impl } from './echo.js';
import { SMALL, type Prepared, type Scenario } from './scenario.js';
import type { Placement } from './servers.js';

export const CLIENTS = 32;
const IN_FLIGHT = 16;

const TARGETS: readonly [Impl, Placement][] = [
  ['wirecall', 'child'],
  ['wirecall', 'in-process'],
  ['grpc-js', 'child'],
];

export function connectionScenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const transport of TRANSPORTS) {
    for (const [impl, server] of TARGETS) {
      const key = `connections/${CLIENTS}x${IN_FLIGHT}/${transport}/${server}`;
      out.push({
        id: `${key}/${impl}`,
        group: 'connections',
        title: `${CLIENTS} clients × ${IN_FLIGHT} in flight`,
        impl,
        server,
        transport,
        unit: 'calls/s',
        compareKey: key,
        params: { clients: CLIENTS, inFlightPerClient: IN_FLIGHT, argBytes: SMALL.length },
        prepare: async ({ servers }): Promise<Prepared> => {
          const endpoint = await servers.endpoint(impl, server, transport);
          const clients: EchoClient[] = [];
          try {
            for (let i = 0; i < CLIENTS; i++) clients.push(await openEchoClient(impl, endpoint));
          } catch (err) {
            await Promise.all(clients.map((c) => c.close()));
            throw err;
          }
          const ops = clients.map((c) => () => c.call(SMALL));
          return {
            run: (budget) => closedLoop(ops, IN_FLIGHT, budget),
            close: async () => {
              await Promise.all(clients.map((c) => c.close()));
            },
          };
        },
      });
    }
  }
  return out;
}
