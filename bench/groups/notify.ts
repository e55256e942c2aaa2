/**
 * Notifications (fire-and-forget), counted where they land: on the server.
 *
 * `notify()` has no backpressure of its own (it queues and returns), so the sender works
 * in batches: BATCH notifications, then a `ticks` call. At most WINDOW such calls are
 * outstanding, which bounds what sits in memory. A connection delivers in order, so when
 * the last `ticks` call answers, the server has handled every notification before it; the
 * run ends there and the count it returns must equal what was sent.
 */
import { TRANSPORTS } from '../lib/sockets.js';
import type { Sample } from '../lib/stats.js';
import { openWirecallClient } from '../systems/wirecall.js';
import { SMALL, type Prepared, type Scenario } from './scenario.js';
import type { Placement } from './servers.js';

const BATCH = 1000;
const WINDOW = 4;
const PLACEMENTS: readonly Placement[] = ['child', 'in-process'];

export function notifyScenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const transport of TRANSPORTS) {
    for (const server of PLACEMENTS) {
      out.push({
        id: `notify/notify/${transport}/${server}/wirecall`,
        group: 'notify',
        title: 'notify, 32 B argument',
        impl: 'wirecall',
        server,
        transport,
        unit: 'notifications/s',
        params: { argBytes: SMALL.length, batch: BATCH, window: WINDOW },
        prepare: async ({ servers }): Promise<Prepared> => {
          const { conn, close } = await openWirecallClient(await servers.endpoint('wirecall', server, transport));
          return {
            run: async (budget): Promise<Sample> => {
              await conn.call('resetTicks');
              const acks: Promise<unknown>[] = [];
              let sent = 0;
              const start = performance.now();
              const deadline = start + budget.ms;
              while (sent < budget.maxOps && performance.now() < deadline) {
                for (let i = 0; i < BATCH; i++) conn.notify('tick', SMALL);
                sent += BATCH;
                acks.push(conn.call('ticks'));
                if (acks.length >= WINDOW) await acks.shift();
              }
              const counted = (await Promise.all(acks)).pop();
              const seconds = (performance.now() - start) / 1000;
              if (counted !== sent) throw new Error(`server counted ${String(counted)} notifications, ${sent} were sent`);
              return { ops: sent, seconds };
            },
            close,
          };
        },
      });
    }
  }
  return out;
}
