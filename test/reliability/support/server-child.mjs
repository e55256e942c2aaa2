// The server under test, in a process of its own so that its memory (RSS) and event loop
// are measured apart from the test runner. Run from the compiled package:
//
//   node server-child.mjs '<json config>'     (forked with an IPC channel)
//
// config: { options: ServerOptions, unix: '/abs/path.sock', tcp: boolean }
// IPC out: { ev: 'listening', unix, tcp }, then events (see `event()` below).
// IPC in:  { req: id, cmd: 'stats' } -> { res: id, rss, heapUsed, external, arrayBuffers, connections, states }
import { channel } from 'node:diagnostics_channel';
import v8 from 'node:v8';
import { createServer } from '../../../dist/src/index.js';

const config = JSON.parse(process.argv[2] ?? '{}');
const options = config.options ?? {};

// The test runner went away (crashed, killed): never outlive it.
process.on('disconnect', () => process.exit(0));

/** Send an event to the test process; silently dropped once the channel is gone. */
function event(ev, fields) {
  if (!process.connected) return;
  try {
    process.send({ ev, t: Date.now(), ...fields });
  } catch {
    // channel closing
  }
}

function codeOf(err) {
  return err && typeof err === 'object' && typeof err.code === 'string' ? err.code : err === undefined ? null : String(err);
}

function messageOf(err) {
  return err && typeof err === 'object' && typeof err.message === 'string' ? err.message : undefined;
}

function peerName(connection) {
  return connection?.peer?.name ?? null;
}

const server = createServer(options);

// echo: the params back.
server.register('echo', (params) => params);

// sleep {ms, report}: resolves after ms; aborts with ctx.signal. With `report`, the test
// hears when the handler starts and why it was aborted.
server.register('sleep', (params, ctx) => {
  const ms = typeof params?.ms === 'number' ? params.ms : 0;
  const report = params?.report === true;
  const peer = ctx.peer?.name ?? null;
  if (report) event('handlerStarted', { method: 'sleep', peer });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ctx.signal.removeEventListener('abort', onAbort);
      resolve(ms);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      if (report) event('handlerAborted', { method: 'sleep', peer, code: codeOf(ctx.signal.reason), message: messageOf(ctx.signal.reason) });
      reject(ctx.signal.reason);
    };
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
  });
});

// count {n, size, report}: n messages of `size` bytes (one shared buffer: the library
// copies it into each frame, so the server's own memory is the library's).
server.registerStream('count', async function* (params, ctx) {
  const n = typeof params?.n === 'number' ? params.n : 0;
  const size = typeof params?.size === 'number' ? params.size : 0;
  const report = params?.report === true;
  const peer = ctx.peer?.name ?? null;
  const chunk = Buffer.alloc(size, 0x61);
  let sent = 0;
  try {
    for (; sent < n; sent++) {
      if (sent === 1 && report) event('streamStarted', { method: 'count', peer });
      yield chunk;
    }
  } finally {
    if (report) {
      const reason = ctx.signal.aborted ? ctx.signal.reason : undefined;
      event('streamEnded', { method: 'count', peer, sent, aborted: ctx.signal.aborted, code: codeOf(reason), message: messageOf(reason) });
    }
  }
});

// echoStream: every message back, until the caller ends.
server.registerBidiStream('echoStream', async function* (messages) {
  for await (const m of messages) yield m;
});

// Connection lifecycle, for the test to see when and why each peer was cut. Peers are
// named in their HELLO; a peer cut before its handshake shows up as connectionError.
server.on('connectionError', (err, address) => {
  event('connectionError', { code: codeOf(err), message: messageOf(err), address });
});
server.on('connection', (connection) => {
  const peer = peerName(connection);
  event('connection', { peer });
  connection.on('state', (state) => {
    if (state === 'closing') event('closing', { peer });
  });
  connection.once('close', (err) => {
    event('close', { peer, code: err === undefined ? null : codeOf(err), message: messageOf(err) });
  });
});
// Every fatal connection error, the moment it is decided (before any linger).
channel('wirecall:connection:error').subscribe((msg) => {
  const { connection, error } = msg;
  event('fatal', { peer: peerName(connection), code: codeOf(error), message: messageOf(error) });
});

process.on('message', (msg) => {
  if (msg === null || typeof msg !== 'object' || typeof msg.req !== 'number') return;
  if (msg.cmd === 'stats') {
    const m = process.memoryUsage();
    const states = {};
    for (const c of server.connections) states[c.state] = (states[c.state] ?? 0) + 1;
    // What V8 holds from the OS per space (committed), beside what is live in it (used).
    const spaces = {};
    for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = { size: s.space_size, used: s.space_used_size };
    process.send({
      res: msg.req,
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      spaces,
      connections: server.connections.size,
      states,
    });
  } else if (msg.cmd === 'close') {
    server.close({ drainTimeout: 200 }).then(
      () => process.send({ res: msg.req, ok: true }),
      (err) => process.send({ res: msg.req, ok: false, message: String(err) }),
    );
  } else {
    process.send({ res: msg.req, error: `unknown command ${msg.cmd}` });
  }
});

const unix = await server.listen(`unix:${config.unix}`);
const tcp = config.tcp ? await server.listen('tcp://127.0.0.1:0') : null;
process.stdout.write(`listening on ${unix}${tcp ? ` ${tcp}` : ''}\n`);
event('listening', { unix, tcp });
