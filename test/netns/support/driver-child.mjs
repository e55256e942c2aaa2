// The client host: a TransportManager over the Redis registry, run inside its network
// namespace from the compiled package and driven by the test over IPC:
//
//   ip netns exec <ns> node driver-child.mjs '<json config>'    (spawned with an IPC channel)
//
// config: { dccType, registry: 'redis://…' | { sentinels, name }, tls: { caFile, certFile, keyFile },
//           registryHeartbeatInterval }
// From the start it watches the DCC type and records every event with its time.
// IPC in: { req, cmd, args } -> { res: req, value } or { res: req, error }
//   events                  every watch event so far: { t, type, revision, resync?, ids }
//   session                 getOrCreateSession(dccType): { instanceId, endpoint }
//   info                    the session's info()
//   call { timeout }        one call of whoami on the session: { ok, host | code, start, end }
//   startCalls { every, timeout }   a call every `every` ms from now on, without waiting for the last
//   stopCalls               stops them, waits for the ones in flight; every call's record
//   list                    live instances: [{ instanceId, endpoint, lastHeartbeat }]
import { readFileSync } from 'node:fs';
import { TransportManager } from '../../../dist/src/manager/index.js';

process.on('disconnect', () => process.exit(0));
const config = JSON.parse(process.argv[2] ?? '{}');
const send = (message) => {
  if (process.connected) process.send(message, undefined, undefined, () => undefined);
};

let registry = config.registry;
if (typeof registry === 'object') {
  const { createSentinel } = await import('redis');
  registry = createSentinel({ name: config.registry.name, sentinelRootNodes: config.registry.sentinels });
  registry.on('error', () => undefined);
  await registry.connect();
}
const manager = new TransportManager({
  registry,
  registryHeartbeatInterval: config.registryHeartbeatInterval,
  heartbeatInterval: 500,
  connectTimeout: 1500,
  reconnectBackoffBase: 100,
  reconnectBackoffMax: 400,
  reconnectJitter: false,
  reconnectMaxRetries: 100,
  connectionOptions: {
    name: 'netns-driver',
    tls: { ca: readFileSync(config.tls.caFile), cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
  },
  onWarning: () => undefined,
});

const events = [];
const watching = new AbortController();
(async () => {
  for await (const e of manager.watch(config.dccType, { signal: watching.signal })) {
    const ids = e.type === 'snapshot' ? e.entries.map((x) => x.instanceId) : [e.entry?.instanceId ?? e.instanceId];
    events.push({ t: Date.now(), type: e.type, revision: e.revision, ...(e.type === 'snapshot' ? { resync: e.resync } : {}), ids });
  }
})().catch((err) => events.push({ t: Date.now(), type: 'watch-error', ids: [], message: String(err) }));

let session;
const calls = [];
let caller;

async function callOnce(timeout) {
  const start = Date.now();
  try {
    const reply = await session.call('whoami', undefined, { timeout });
    return { ok: true, host: reply.host, client: reply.client, start, end: Date.now() };
  } catch (err) {
    return { ok: false, code: err?.code ?? String(err), message: String(err?.message ?? err), start, end: Date.now() };
  }
}

const commands = {
  events: () => events,
  async session() {
    session = await manager.getOrCreateSession(config.dccType);
    return { instanceId: session.instanceId, endpoint: session.info().endpoint };
  },
  info: () => session.info(),
  call: ({ timeout }) => callOnce(timeout),
  startCalls({ every, timeout }) {
    caller = setInterval(() => {
      const record = callOnce(timeout);
      calls.push(record);
    }, every);
    return null;
  },
  async stopCalls() {
    clearInterval(caller);
    return Promise.all(calls.splice(0));
  },
  async list() {
    return (await manager.listInstances(config.dccType)).map((e) => ({ instanceId: e.instanceId, endpoint: e.endpoint ?? null, lastHeartbeat: e.lastHeartbeat, host: e.metadata.host }));
  },
};

process.on('message', async ({ req, cmd, args }) => {
  try {
    send({ res: req, value: await commands[cmd](args ?? {}) });
  } catch (err) {
    send({ res: req, error: `${err?.code ?? 'Error'}: ${err?.message ?? err}` });
  }
});
send({ ev: 'ready' });
