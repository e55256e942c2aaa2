// A service host's server, run inside its network namespace from the compiled package:
//
//   ip netns exec <ns> node service-child.mjs '<json config>'    (spawned with an IPC channel)
//
// config: { name, dccType, listen: 'tls://10.231.0.2:7443', tls: { certFile, keyFile, caFile },
//           registry: 'redis://…' | { sentinels: [{ host, port }], name }, heartbeatInterval }
// It serves mutual TLS, registers through serveRegistered (lease = 3 heartbeats) and
// answers `whoami` with its host name and the client's certificate CN.
// IPC out: { ev: 'registered', instanceId, endpoint }, { ev: 'warning', message }, { ev: 'failed', message }
// IPC in:  { cmd: 'close' } -> deregisters, closes and exits 0.
import { readFileSync } from 'node:fs';
import { createServer } from '../../../dist/src/index.js';
import { serveRegistered } from '../../../dist/src/manager/index.js';

process.on('disconnect', () => process.exit(0)); // never outlive the test runner
const config = JSON.parse(process.argv[2] ?? '{}');
const send = (message) => {
  if (process.connected) process.send(message, undefined, undefined, () => undefined);
};

try {
  const server = createServer({
    name: config.name,
    heartbeatInterval: 500,
    tls: {
      cert: readFileSync(config.tls.certFile),
      key: readFileSync(config.tls.keyFile),
      ca: readFileSync(config.tls.caFile),
      requestCert: true,
    },
  });
  server.register('whoami', (_params, ctx) => ({ host: config.name, client: ctx.peer.tls?.subject?.CN ?? null }));
  let registry = config.registry;
  if (typeof registry === 'object') {
    const { createSentinel } = await import('redis');
    registry = createSentinel({ name: config.registry.name, sentinelRootNodes: config.registry.sentinels });
    registry.on('error', () => undefined); // failovers: node-redis reconnects by itself
    await registry.connect();
  }
  const service = await serveRegistered(server, {
    dccType: config.dccType,
    endpoint: config.listen,
    registry,
    heartbeatInterval: config.heartbeatInterval,
    metadata: { host: config.name },
    onWarning: (message) => send({ ev: 'warning', message }),
  });
  process.on('message', (m) => {
    if (m?.cmd === 'close') service.close().finally(() => process.exit(0));
  });
  send({ ev: 'registered', instanceId: service.instanceId, endpoint: service.endpoint });
} catch (err) {
  send({ ev: 'failed', message: String(err?.stack ?? err) });
  setTimeout(() => process.exit(1), 100);
}
