/**
 * A tour of wirecall: one server on a private Unix socket and on TCP, one client on
 * each, and every kind of exchange between them. Run with `npm run demo`.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  CallCancelled,
  DeadlineExceeded,
  RemoteError,
  connect,
  createServer,
  parseEndpoint,
  type Connection,
} from '../src/index.js';
import { registerDemoMethods, type DemoClient, type DemoService } from '../src/cli/demo-service.js';

const say = (line: string): void => console.log(line);

function describe(err: unknown): string {
  if (err instanceof RemoteError) return `RemoteError ${err.statusName}: ${err.message}`;
  if (err instanceof DeadlineExceeded) return `DeadlineExceeded: ${err.message}`;
  if (err instanceof CallCancelled) return `CallCancelled: ${err.message}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Runs `promise`, which must fail, and describes how. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    const value = await promise;
    throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
  } catch (err) {
    return describe(err);
  }
}

async function tour(label: string, endpoint: string): Promise<Connection<DemoService, DemoClient>> {
  const p = `[${label}]`;
  // The handler the server will call while handling our `countdown` call.
  const client = await connect<DemoService, DemoClient>(endpoint, {
    name: `demo-client-${label}`,
    handlers: {
      'countdown.tick': (params) => {
        const { n } = params as { n: number };
        say(`${p}   client handles countdown.tick(${n}) called by the server`);
        return `ack ${n}`;
      },
    },
  });
  say(`${p} connected to ${endpoint} (server "${client.peer?.name}", connection ${client.peer?.connectionId.slice(0, 8)})`);

  // 1. A unary call.
  const sum = await client.call('add', { a: 2, b: 3 });
  say(`${p} call add({a: 2, b: 3}) -> ${sum}`);

  // 2. The server calls back into the client while handling our call.
  say(`${p} call countdown({from: 3}):`);
  const countdown = await client.call('countdown', { from: 3 });
  say(`${p}   -> ${JSON.stringify(countdown)}`);

  // 3. A notification: no reply; the next call on the same connection sees its effect.
  client.notify('note', { text: `hello over ${label}` });
  say(`${p} notify note({text: "hello over ${label}"}) sent`);

  // 4. An error status from the server.
  say(`${p} call fail({message: "boom"}) -> ${await failure(client.call('fail', { message: 'boom' }))}`);
  const untyped = client as unknown as Connection;
  say(`${p} call nope() -> ${await failure(untyped.call('nope'))}`);

  // 5. A deadline.
  let t0 = performance.now();
  const late = await failure(client.call('sleep', { ms: 5000 }, { timeout: 50 }));
  say(`${p} call sleep({ms: 5000}) with timeout 50 ms -> ${late} (after ${Math.round(performance.now() - t0)} ms)`);

  // 6. Cancellation.
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  t0 = performance.now();
  const cancelled = await failure(client.call('sleep', { ms: 5000 }, { signal: controller.signal }));
  say(`${p} call sleep({ms: 5000}), aborted after 50 ms -> ${cancelled} (after ${Math.round(performance.now() - t0)} ms)`);

  // 7. Streams: a server stream read with for-await, a client stream, a bidi stream.
  const counted: number[] = [];
  for await (const n of client.stream('count', { n: 5 })) counted.push(n);
  say(`${p} stream count({n: 5}) -> ${counted.join(', ')}`);
  const adding = client.clientStream('sum');
  for (const n of [10, 20, 30]) await adding.write(n);
  adding.end();
  say(`${p} clientStream sum <- 10, 20, 30 -> ${await adding.result}`);
  const chat = client.bidiStream('chat');
  const replies = (async () => {
    const got: unknown[] = [];
    for await (const m of chat) got.push(m);
    return got;
  })();
  for (const m of ['hi', 'there']) await chat.write(m);
  chat.end();
  say(`${p} bidiStream chat <- "hi", "there" -> ${JSON.stringify(await replies)}`);
  let seen = 0;
  for await (const _ of client.stream('count', { n: 1_000_000 })) if (++seen === 3) break;
  say(`${p} stream count({n: 1000000}), left the loop after 3 -> cancelled on both sides`);

  // 8. Round-trip time.
  const rtt = await client.ping();
  say(`${p} ping -> ${rtt.toFixed(3)} ms`);
  return client;
}

async function main(): Promise<void> {
  say('wirecall demo');
  const server = registerDemoMethods(createServer<DemoService, DemoClient>({ name: 'demo-server' }));
  server.on('connection', (connection) => {
    connection.on('notification', (method, params) => {
      say(`[server] got notification ${method}(${JSON.stringify(params)}) from ${connection.peer?.name}`);
    });
  });

  const unixEndpoint = await server.listen(); // a fresh private Unix socket
  const tcpEndpoint = await server.listen('tcp://127.0.0.1:0');
  say(`[server] listening on ${unixEndpoint}`);
  say(`[server] listening on ${tcpEndpoint}`);

  const clients: Connection<DemoService, DemoClient>[] = [];
  clients.push(await tour('unix', unixEndpoint));
  clients.push(await tour('tcp', tcpEndpoint));

  // Both notifications arrived before the calls that followed them on their connection.
  const notes = await clients[1]!.call('notes');
  say(`[tcp] call notes() -> ${JSON.stringify(notes)}`);

  say('closing clients and server');
  await Promise.all(clients.map((c) => c.close()));
  await server.close();
  const socket = parseEndpoint(unixEndpoint);
  const removed = socket.kind === 'unix' ? !existsSync(socket.path) : true;
  say(`closed: ${clients.map((c) => c.state).join(', ')}; unix socket file removed: ${removed ? 'yes' : 'no'}`);
  say('demo done');
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${describe(err)}`);
  if (err instanceof Error && err.stack) console.error(err.stack);
  process.exitCode = 1;
});
