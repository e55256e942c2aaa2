/**
 * Echo of opaque Buffers from 64 B to 1 MiB, sequential and with 8 calls in flight.
 * MB/s counts the payload once per call (10^6 bytes/s); each byte travels to the
 * server and back, so the bytes on the wire are about twice that.
 */
import { payload } from '../lib/inputs.js';
import { closedLoop } from '../lib/loops.js';
import { TRANSPORTS } from '../lib/sockets.js';
import { fmtBytes } from '../lib/stats.js';
import { openEchoClient, type Impl } from './echo.js';
import type { Prepared, Scenario } from './scenario.js';

export const PAYLOAD_SIZES: readonly number[] = [64, 4 * 1024, 64 * 1024, 1024 * 1024];

const MODES = [
  { name: 'sequential', inFlight: 1 },
  { name: 'pipelined-8', inFlight: 8 },
] as const;

const IMPLS: readonly Impl[] = ['wirecall', 'grpc-js'];

function length(reply: unknown): number {
  return reply instanceof Uint8Array ? reply.length : -1;
}

export function payloadScenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const size of PAYLOAD_SIZES) {
    const body = payload(size);
    for (const mode of MODES) {
      for (const transport of TRANSPORTS) {
        for (const impl of IMPLS) {
          const key = `payload/${fmtBytes(size).replace(' ', '')}-${mode.name}/${transport}/child`;
          out.push({
            id: `${key}/${impl}`,
            group: 'payload',
            title: `${fmtBytes(size)}, ${mode.inFlight === 1 ? 'sequential' : `${mode.inFlight} in flight`}`,
            impl,
            server: 'child',
            transport,
            unit: 'calls/s',
            compareKey: key,
            params: { bytes: size, inFlight: mode.inFlight },
            timeScale: 0.5,
            prepare: async ({ servers }): Promise<Prepared> => {
              const client = await openEchoClient(impl, await servers.endpoint(impl, 'child', transport));
              // One checked round trip: the reply really is the payload.
              const reply = await client.call(body);
              if (length(reply) !== size) throw new Error(`echo returned ${length(reply)} bytes, expected ${size}`);
              return {
                run: (budget) => closedLoop([() => client.call(body)], mode.inFlight, budget, size),
                close: () => client.close(),
              };
            },
          });
        }
      }
    }
  }
  return out;
}
