/**
 * The dcc-mcp envelope codec against real Python, from the venv `npm run setup:interop`
 * creates under .interop/ (scripts/setup-interop.sh). The Python side is
 * src/wire/fixtures/dcc_mcp_peer.py.
 *
 * What "real" means here, honestly: dcc-mcp-core 0.13.6, the last release with the
 * envelope, is not on PyPI (its files start at 0.19.3), so no test can run its own code.
 * The venv holds the pinned latest dcc-mcp-core (checked below: it no longer has the
 * envelope API) and Python `msgpack`, an independent MessagePack implementation (the one
 * the reference's vectors were checked with), which produces and checks the envelope
 * layout: Python → our decoder, our encoder → Python, and a TCP round trip with a Python
 * envelope peer.
 *
 * Without the venv: with CI=true the tests fail; elsewhere they are skipped with one line.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dccMcpDialect,
  dccMcpMaxElements,
  decodeDccMcpFrame,
  encodeDccMcp,
  newEnvelopeId,
  type DccMcpMessage,
} from './dcc-mcp.js';
import { FrameDecoder } from './frame-decoder.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SETUP = readFileSync(`${ROOT}scripts/setup-interop.sh`, 'utf8');
const LATEST = /^LATEST=(\S+)$/m.exec(SETUP)![1]!;
const MSGPACK = /^MSGPACK=(\S+)$/m.exec(SETUP)![1]!;
const PYTHON = `${ROOT}.interop/dcc-mcp-core-${LATEST}/bin/python`;
const PEER = fileURLToPath(new URL('./fixtures/dcc_mcp_peer.py', import.meta.url));
const SKIP_LINE = 'dcc-mcp-core interop: run `npm run setup:interop` first';

const installed = existsSync(PYTHON);
const inCI = process.env.CI === 'true';
if (!installed && !inCI) process.stderr.write(`${SKIP_LINE}\n`);

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

describe.skipIf(!installed && !inCI)('dcc-mcp-core interop (Python from .interop/)', () => {
  it(`the venv is set up (dcc-mcp-core ${LATEST}, msgpack ${MSGPACK})`, () => {
    if (!installed) expect.fail(`${SKIP_LINE} (CI=true: the interop peers must be installed; missing ${PYTHON})`);
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
describe.skipIf(!installed)('dcc-mcp envelope ⇄ Python msgpack (from .interop/)', () => {

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
    let socket: net.Socket;
    const inbox: DccMcpMessage[] = [];
    let waiter: (() => void) | undefined;
    let closed = false;

    const next = async (): Promise<DccMcpMessage> => {
      while (inbox.length === 0) {
        if (closed) expect.fail('the Python peer closed the connection');
        await new Promise<void>((resolve) => (waiter = resolve));
      }
      return inbox.shift()!;
    };

    beforeAll(async () => {
      if (!installed) return;
      child = spawn(PYTHON, [PEER, 'serve']);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        child.once('exit', (code) => reject(new Error(`python exited ${code}: ${stderr}`)));
      });
      socket = net.connect(port, '127.0.0.1');
      const decoder = new FrameDecoder((s, a, b) => inbox.push(dccMcpDialect.decodeScanned(s, a, b)), {
        maxMessageElements: dccMcpMaxElements(8 * 1024 * 1024),
      });
      socket.on('data', (chunk: Buffer) => {
        decoder.push(chunk);
        waiter?.();
      });
      socket.on('close', () => {
        closed = true;
        waiter?.();
      });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    });

    afterAll(() => {
      socket?.destroy();
      if (child && child.exitCode === null) child.kill();
    });

    it('ping → pong with the same id and timestamp', async () => {
      const id = newEnvelopeId();
      socket.write(dccMcpDialect.encode({ type: 'ping', id, timestampMs: 1_700_000_000_123 }));
      expect(await next()).toEqual({ type: 'pong', id, timestampMs: 1_700_000_000_123 });
    });

    it('request → response: params echoed unchanged (every byte value, 100 KB)', async () => {
      const id = newEnvelopeId();
      const params = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
      socket.write(dccMcpDialect.encode({ type: 'request', id, method: 'echo', params }));
      expect(await next()).toEqual({ type: 'response', id, success: true, payload: params, error: null });
    });

    it('an error response', async () => {
      const id = newEnvelopeId();
      socket.write(dccMcpDialect.encode({ type: 'request', id, method: 'fail', params: Buffer.from('no') }));
      expect(await next()).toEqual({ type: 'response', id, success: false, payload: Buffer.alloc(0), error: 'failed: no' });
    });

    it('notify with and without id', async () => {
      const id = newEnvelopeId();
      socket.write(dccMcpDialect.encode({ type: 'notify', id: null, topic: 'a', data: Buffer.from([0xff]) }));
      socket.write(dccMcpDialect.encode({ type: 'notify', id, topic: 'b', data: Buffer.alloc(0) }));
      expect(await next()).toEqual({ type: 'notify', id: null, topic: 'echo:a', data: Buffer.from([0xff]) });
      expect(await next()).toEqual({ type: 'notify', id, topic: 'echo:b', data: Buffer.alloc(0) });
    });

    it('2,000 requests written at once come back in order', async () => {
      const ids = Array.from({ length: 2000 }, () => newEnvelopeId());
      socket.write(Buffer.concat(ids.map((id, i) => dccMcpDialect.encode({ type: 'request', id, method: 'echo', params: Buffer.from(String(i)) }))));
      for (let i = 0; i < ids.length; i++) {
        const m = await next();
        expect(m.type === 'response' && m.id === ids[i] && m.payload.toString() === String(i)).toBe(true);
      }
    });

    it('shutdown: the peer answers and closes', async () => {
      socket.write(dccMcpDialect.encode({ type: 'shutdown', reason: 'done' }));
      expect(await next()).toEqual({ type: 'shutdown', reason: 'bye: done' });
      await new Promise<void>((resolve) => (closed ? resolve() : socket.once('close', () => resolve())));
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
