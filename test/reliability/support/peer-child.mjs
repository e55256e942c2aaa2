// A real wirecall client in a process of its own, to be SIGKILLed or SIGSTOPped by the
// test while a call or stream is in flight. Run from the compiled package (forked):
//
//   node peer-child.mjs '<json>'   json: { endpoint, name, mode: 'call' | 'stream', heartbeatInterval, readEveryMs }
//
// mode 'call':   calls sleep { ms: 600000, report: true } and waits.
// mode 'stream': reads count { n: 10^7, size, report: true } one message per readEveryMs.
// IPC out: { ev: 'connected' }, { ev: 'reading', received } (stream, after the first message),
//          { ev: 'failed', code, message } if the call or stream ends.
import { connect } from '../../../dist/src/index.js';

const config = JSON.parse(process.argv[2]);
process.on('disconnect', () => process.exit(0));

const send = (msg) => {
  if (process.connected) process.send({ t: Date.now(), ...msg });
};

const conn = await connect(config.endpoint, { name: config.name, heartbeatInterval: config.heartbeatInterval ?? 5000 });
send({ ev: 'connected' });
try {
  if (config.mode === 'call') {
    await conn.call('sleep', { ms: 600_000, report: true });
  } else {
    let received = 0;
    for await (const _m of conn.stream('count', { n: 10_000_000, size: config.size ?? 1024, report: true })) {
      received++;
      if (received === 1) send({ ev: 'reading', received });
      await new Promise((r) => setTimeout(r, config.readEveryMs ?? 20));
    }
  }
  send({ ev: 'finished' });
} catch (err) {
  send({ ev: 'failed', code: err?.code, message: err?.message });
}
