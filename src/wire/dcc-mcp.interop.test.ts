/**
 * The dcc-mcp envelope codec against real Python, from the venvs `npm run setup:interop`
 * creates under .interop/ (scripts/setup-interop.sh).
 *
 * - Always (the pinned latest dcc-mcp-core + Python `msgpack`, fixture dcc_mcp_peer.py):
 *   the latest release has no envelope API any more (checked), so the envelope layout is
 *   produced and checked with msgpack, an independent MessagePack implementation:
 *   Python → our decoder, our encoder → Python, a TCP round trip with a Python peer.
 * - Opt-in (dcc-mcp-core 0.13.6 itself, fixture dcc_mcp_0136.py): 0.13.6 is not on PyPI,
 *   so its venv exists only where the setup script was given a source checkout
 *   (DCC_MCP_CORE_0136_SRC) and built it; elsewhere, CI included, those tests are skipped.
 *   With it: its own encoders/decoder against ours, its IpcListener and connect_ipc
 *   against a raw Node socket using our codec.
 *
 * Without the latest venv: with CI=true the tests fail; elsewhere they are skipped with one line.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dccMcpDialect,
  dccMcpMaxElements,
  decodeDccMcpFrame,
  encodeDccMcp,
  encodeDccNotify,
  encodeDccPing,
  encodeDccRequest,
  encodeDccResponse,
  encodeDccShutdown,
  newEnvelopeId,
  uuidToBytes,
  type DccMcpMessage,
} from './dcc-mcp.js';
import { FrameDecoder } from './frame-decoder.js';
import { packFrame } from './msgpack.js';
import { EnvelopeSocket } from '../test-util/envelope-socket.js';
import { interopPeer, LATEST, MSGPACK, PYTHON, PYTHON_0136 } from '../test-util/interop.js';

const venv = interopPeer('dcc-mcp-core interop');
const PEER = fileURLToPath(new URL('./fixtures/dcc_mcp_peer.py', import.meta.url));


const py = (mode: string, input?: string): string =>
  execFileSync(PYTHON, [PEER, mode], { input, encoding: 'utf8', timeout: 15_000, maxBuffer: 64 * 1024 * 1024 });

const ID = '00112233-4455-6677-8899-aabbccddeeff';
const ID1 = '00000000-0000-0000-0000-000000000001';
const BIG = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
/** What dcc_mcp_peer.py `encode` packs, in its order. */
const PYTHON_ENVELOPES: DccMcpMessage[] = [
  { type: 'request', id: ID, method: 'ping', params: Buffer.from([1, 2, 200]) },
  { type: 'request', id: ID1, method: 'execute_python', params: Buffer.from('{"action":"run","params":{"code":"1+1"}}') },
  { type: 'response', id: ID, success: false, payload: Buffer.alloc(0), error: 'boom' },
  { type: 'response', id: ID, success: true, payload: BIG, error: null },
  { type: 'ping', id: ID, timestampMs: 1_700_000_000_000 },
  { type: 'pong', id: ID, timestampMs: 1_700_000_000_000 },
  { type: 'ping', id: ID, timestampMs: 5 },
  { type: 'notify', id: null, topic: 't', data: Buffer.alloc(0) },
  { type: 'notify', id: ID, topic: 'scene.changed', data: Buffer.from('é✓') },
  { type: 'shutdown', reason: null },
  { type: 'shutdown', reason: 'bye' },
];

describe.skipIf(!venv.run)('dcc-mcp-core interop (Python from .interop/)', () => {
  it(`the venv is set up (dcc-mcp-core ${LATEST}, msgpack ${MSGPACK})`, () => {
    venv.requireInstalled();
    const facts = JSON.parse(py('facts')) as { version: string; msgpack: string; has: Record<string, boolean> };
    expect(facts.version).toBe(LATEST);
    expect(facts.msgpack).toBe(MSGPACK);
    // The envelope generation's API is gone from the current release (docs/DCC-MCP.md):
    // a test against the real envelope needs 0.13.6, which PyPI does not have.
    expect(facts.has).toMatchObject({ IpcListener: false, connect_ipc: false, FramedChannel: false, TransportManager: false });
    // What replaced it (DCC-Link), for the later parts of issue 12.
    expect(facts.has.DccLinkFrame).toBe(true);
  });
});

// With CI=true and no venv, the test above fails once; these are skipped rather than failing by the dozen.
describe.skipIf(!venv.installed)('dcc-mcp envelope ⇄ Python msgpack (from .interop/)', () => {

  it('envelopes packed by Python msgpack decode to the expected messages, and our encoder writes the same bytes', () => {
    const lines = py('encode').trim().split('\n');
    expect(lines).toHaveLength(PYTHON_ENVELOPES.length * 2);
    PYTHON_ENVELOPES.forEach((expected, i) => {
      const asArrays = Buffer.from(lines[i]!, 'hex');
      const asBin = Buffer.from(lines[PYTHON_ENVELOPES.length + i]!, 'hex');
      expect(decodeDccMcpFrame(asArrays), `envelope ${i}`).toEqual(expected);
      // Byte fields as bin (a lenient writer): accepted too.
      expect(decodeDccMcpFrame(asBin), `envelope ${i} (bin)`).toEqual(expected);
      // Byte-exact agreement with an independent encoder for the form dcc-mcp-core writes.
      expect(encodeDccMcp(expected).toString('hex'), `envelope ${i}`).toBe(lines[i]);
    });
  });

  it('frames from our encoder decode in Python with the shapes dcc-mcp-core requires', () => {
    const messages: DccMcpMessage[] = [
      ...PYTHON_ENVELOPES,
      { type: 'request', id: newEnvelopeId(), method: 'x'.repeat(300), params: Buffer.alloc(70_000, 0x9c) },
      { type: 'pong', id: newEnvelopeId(), timestampMs: Date.now() },
      { type: 'response', id: newEnvelopeId(), success: true, payload: Buffer.alloc(20, 1), error: null },
    ];
    const out = py('decode', messages.map((m) => encodeDccMcp(m).toString('hex')).join('\n') + '\n')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { value: unknown[]; problems: string[] });
    expect(out).toHaveLength(messages.length);
    messages.forEach((m, i) => {
      expect(out[i]!.problems, `message ${i}`).toEqual([]);
      expect(out[i]!.value, `message ${i}`).toEqual(asPythonSees(m));
    });
  });

  describe('a TCP round trip with a Python envelope peer', () => {
    let child: ChildProcessWithoutNullStreams;
    let peer: EnvelopeSocket;
    const next = (): Promise<DccMcpMessage> => peer.next();

    beforeAll(async () => {
      if (!venv.installed) return;
      child = spawn(PYTHON, [PEER, 'serve']);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        child.once('exit', (code) => reject(new Error(`python exited ${code}: ${stderr}`)));
      });
      peer = await EnvelopeSocket.open(port, 'the Python peer');
    });

    afterAll(() => {
      peer?.socket.destroy();
      if (child && child.exitCode === null) child.kill();
    });

    it('ping → pong with the same id and timestamp', async () => {
      const id = newEnvelopeId();
      peer.write(dccMcpDialect.encode({ type: 'ping', id, timestampMs: 1_700_000_000_123 }));
      expect(await next()).toEqual({ type: 'pong', id, timestampMs: 1_700_000_000_123 });
    });

    it('request → response: params echoed unchanged (every byte value, 100 KB)', async () => {
      const id = newEnvelopeId();
      const params = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
      peer.write(dccMcpDialect.encode({ type: 'request', id, method: 'echo', params }));
      expect(await next()).toEqual({ type: 'response', id, success: true, payload: params, error: null });
    });

    it('an error response', async () => {
      const id = newEnvelopeId();
      peer.write(dccMcpDialect.encode({ type: 'request', id, method: 'fail', params: Buffer.from('no') }));
      expect(await next()).toEqual({ type: 'response', id, success: false, payload: Buffer.alloc(0), error: 'failed: no' });
    });

    it('notify with and without id', async () => {
      const id = newEnvelopeId();
      peer.write(dccMcpDialect.encode({ type: 'notify', id: null, topic: 'a', data: Buffer.from([0xff]) }));
      peer.write(dccMcpDialect.encode({ type: 'notify', id, topic: 'b', data: Buffer.alloc(0) }));
      expect(await next()).toEqual({ type: 'notify', id: null, topic: 'echo:a', data: Buffer.from([0xff]) });
      expect(await next()).toEqual({ type: 'notify', id, topic: 'echo:b', data: Buffer.alloc(0) });
    });

    it('2,000 requests written at once come back in order', async () => {
      const ids = Array.from({ length: 2000 }, () => newEnvelopeId());
      peer.write(Buffer.concat(ids.map((id, i) => dccMcpDialect.encode({ type: 'request', id, method: 'echo', params: Buffer.from(String(i)) }))));
      for (let i = 0; i < ids.length; i++) {
        const m = await next();
        expect(m.type === 'response' && m.id === ids[i] && m.payload.toString() === String(i)).toBe(true);
      }
    });

    it('shutdown: the peer answers and closes', async () => {
      peer.write(dccMcpDialect.encode({ type: 'shutdown', reason: 'done' }));
      expect(await next()).toEqual({ type: 'shutdown', reason: 'bye: done' });
      await peer.whenClosed();
      const code = await new Promise<number | null>((resolve) =>
        child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (c) => resolve(c)),
      );
      expect(code).toBe(0);
    });
  });
});

/** The JSON dcc_mcp_peer.py prints for an envelope: ids as {uuid}, byte fields as integer arrays. */
function asPythonSees(m: DccMcpMessage): unknown[] {
  const id = (v: string | null): unknown => (v === null ? null : { uuid: v });
  switch (m.type) {
    case 'request':
      return [m.type, id(m.id), m.method, [...m.params]];
    case 'response':
      return [m.type, id(m.id), m.success, [...m.payload], m.error];
    case 'ping':
    case 'pong':
      return [m.type, id(m.id), m.timestampMs];
    case 'notify':
      return [m.type, id(m.id), m.topic, [...m.data]];
    case 'shutdown':
      return [m.type, m.reason];
  }
}

// ---------------------------------------------------------------------------------
// dcc-mcp-core 0.13.6 itself. Not on PyPI, so its venv exists only where
// scripts/setup-interop.sh was given a source checkout (DCC_MCP_CORE_0136_SRC, see the
// script); elsewhere these tests are skipped (CI included: the source is not on PyPI).

const PEER_0136 = fileURLToPath(new URL('./fixtures/dcc_mcp_0136.py', import.meta.url));
const has0136 = existsSync(PYTHON_0136);
/** The fixture's results: its lines starting with "@@" (the package logs to stdout too). */
const results = (stdout: string): string[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('@@'))
    .map((l) => l.slice(2));
const py0136 = (args: string[], input?: string): string[] =>
  results(execFileSync(PYTHON_0136, [PEER_0136, ...args], { input, encoding: 'utf8', timeout: 15_000, maxBuffer: 64 * 1024 * 1024 }));

/** Bytes as the 0.13.6 Python API returns them (we print them as integer lists). */
const list = (b: Buffer): number[] => [...b];

describe.skipIf(!has0136)('dcc-mcp-core 0.13.6 itself (built from source, opt-in)', () => {
  it("frames from its encode_request/encode_response/encode_notify decode as expected, and we re-encode them byte for byte", () => {
    const rows = py0136(['encode']).map((l) => JSON.parse(l) as { hex: string; expect: Record<string, unknown> });
    expect(rows.length).toBe(6);
    for (const row of rows) {
      const frame = Buffer.from(row.hex, 'hex');
      const m = decodeDccMcpFrame(frame);
      const seen: Record<string, unknown> = { ...m };
      for (const k of ['params', 'payload', 'data']) if (Buffer.isBuffer(seen[k])) seen[k] = list(seen[k] as Buffer);
      expect(seen).toMatchObject(row.expect);
      expect(encodeDccMcp(m).toString('hex')).toBe(row.hex);
    }
  });

  it('its decode_envelope reads every frame we encode, and refuses bin byte fields (the quirk)', () => {
    const messages: DccMcpMessage[] = [
      ...PYTHON_ENVELOPES,
      { type: 'request', id: newEnvelopeId(), method: 'big', params: Buffer.alloc(70_000, 0x9c) },
    ];
    const lines = messages.map((m) => encodeDccMcp(m).subarray(4).toString('hex'));
    // The same request with params as bin, as a generic MessagePack writer would produce it.
    lines.push(packFrame(['request', uuidToBytes(ID), 'ping', Buffer.from([1, 2, 200])]).subarray(4).toString('hex'));
    const out = py0136(['decode'], lines.join('\n') + '\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out).toHaveLength(messages.length + 1);
    messages.forEach((m, i) => {
      // Its dicts use the field names of its structs (timestamp_ms) and bytes for byte fields.
      const expected: Record<string, unknown> = { ...m };
      for (const k of ['params', 'payload', 'data']) if (Buffer.isBuffer(expected[k])) expected[k] = list(expected[k] as Buffer);
      if ('timestampMs' in expected) {
        expected.timestamp_ms = expected.timestampMs;
        delete expected.timestampMs;
      }
      expect(out[i], `message ${i}`).toEqual(expected);
    });
    expect(String(out[messages.length]!.error)).toMatch(/invalid type|sequence|bytes/i);
  });

  describe('our codec on a raw socket ⇄ its IpcListener (TCP)', () => {
    let child: ChildProcessWithoutNullStreams;
    let peer: EnvelopeSocket;
    let listenerOut = '';
    const next = (): Promise<DccMcpMessage> => peer.next();

    beforeAll(async () => {
      if (!has0136) return;
      child = spawn(PYTHON_0136, [PEER_0136, 'listen']);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          listenerOut += d.toString();
          const stdout = listenerOut;
          const line = results(stdout).find((l) => l.startsWith('PORT '));
          if (line) resolve(Number(line.slice(5)));
        });
        child.once('exit', (code) => reject(new Error(`python exited ${code}: ${stderr}`)));
      });
      peer = await EnvelopeSocket.open(port, 'the IpcListener side');
    });

    afterAll(() => {
      peer?.socket.destroy();
      if (child && child.exitCode === null) child.kill();
    });

    it('ping → pong with the same id (its channel answers by itself)', async () => {
      const id = newEnvelopeId();
      peer.write(encodeDccPing(id, 1_700_000_000_000));
      const pong = await next();
      expect(pong).toMatchObject({ type: 'pong', id });
    });

    it('request → response with the params echoed (every byte value, 100 KB), and an error response', async () => {
      const id = newEnvelopeId();
      const params = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
      peer.write(encodeDccRequest(id, 'echo', params));
      expect(await next()).toEqual({ type: 'response', id, success: true, payload: params, error: null });
      const id2 = newEnvelopeId();
      peer.write(encodeDccRequest(id2, 'fail', Buffer.from('no')));
      expect(await next()).toEqual({ type: 'response', id: id2, success: false, payload: Buffer.alloc(0), error: 'failed: no' });
    });

    it('notify reaches it; its notify reaches us', async () => {
      peer.write(encodeDccNotify(null, 'hello', Buffer.from([0, 0xff])));
      expect(await next()).toMatchObject({ type: 'notify', topic: 'echo:hello', data: Buffer.from([0, 0xff]) });
    });

    // Pipelined requests: at most 200 here. 0.13.6's channel task awaits room in its data
    // queue (256) while holding up its write queue (256), and the Python side blocks in
    // send_response when the write queue is full: about 512 requests written at once,
    // without waiting for responses, deadlock that peer (channel.rs, DATA_CHANNEL_SIZE /
    // WRITE_CHANNEL_SIZE; seen here with 1,000). docs/DCC-MCP.md.
    it('200 requests written at once all come back', async () => {
      const ids = Array.from({ length: 200 }, () => newEnvelopeId());
      peer.write(Buffer.concat(ids.map((id, i) => encodeDccRequest(id, 'echo', Buffer.from(String(i))))));
      const got = new Map<string, string>();
      for (let i = 0; i < ids.length; i++) {
        const m = await next();
        if (m.type === 'response') got.set(m.id, m.payload.toString());
      }
      expect(ids.every((id, i) => got.get(id) === String(i))).toBe(true);
    });

    it('shutdown ends its channel: the process leaves its loop and exits 0', async () => {
      peer.write(encodeDccShutdown('done'));
      const code = await new Promise<number | null>((resolve) =>
        child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (c) => resolve(c)),
      );
      expect(code).toBe(0);
      expect(results(listenerOut).some((l) => l.startsWith('CLOSED'))).toBe(true);
    });
  });

  it('its connect_ipc client ⇄ a raw Node server speaking our codec', async () => {
    const seen: DccMcpMessage[] = [];
    let peerClosed = false;
    let onPeerClose: (() => void) | undefined;
    const server = net.createServer((conn) => {
      conn.on('close', () => {
        peerClosed = true;
        onPeerClose?.();
      });
      const decoder = new FrameDecoder(
        (s, a, b) => {
          const m = dccMcpDialect.decodeScanned(s, a, b);
          seen.push(m);
          if (m.type === 'ping') conn.write(encodeDccMcp({ type: 'pong', id: m.id, timestampMs: Date.now() }));
          else if (m.type === 'request' && m.method === 'fail') conn.write(encodeDccResponse(m.id, false, Buffer.alloc(0), 'nope'));
          else if (m.type === 'request') conn.write(encodeDccResponse(m.id, true, m.params, null));
          else if (m.type === 'notify') conn.write(encodeDccNotify(m.id, `echo:${m.topic}`, m.data));
          else if (m.type === 'shutdown') conn.end();
        },
        { maxMessageElements: dccMcpMaxElements(8 * 1024 * 1024) },
      );
      conn.on('data', (chunk: Buffer) => decoder.push(chunk));
      conn.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(PYTHON_0136, [PEER_0136, 'call', String(port)]);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`python exited ${code}: ${stderr}`))));
      });
      const r = JSON.parse(results(out)[0]!) as Record<string, unknown>;
      // call() returns the response dict without its "type".
      expect(r.echo).toMatchObject({ success: true, payload: list(Buffer.from('{"x":1}')), error: null });
      // success=false: its call() raises with the error text we sent.
      expect(r.fail).toBe("call 'fail' failed: nope");
      expect(typeof r.ping_rtt_ms).toBe('number');
      expect(r.notify).toMatchObject({ type: 'notify', topic: 'echo:hello', data: [0, 255] });
      // Its FramedChannel.shutdown() stops its reader and drops the socket: no shutdown envelope.
      expect(seen.map((m) => m.type)).toEqual(['request', 'request', 'ping', 'notify']);
      await new Promise<void>((resolve) => (peerClosed ? resolve() : (onPeerClose = resolve)));
    } finally {
      server.close();
    }
  });
});
