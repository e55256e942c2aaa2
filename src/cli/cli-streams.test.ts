/**
 * Streams and callbacks from the CLI (issue 14, item 9) and `serve -v` logging every
 * call: `call --client-stream` / `--bidi` with messages as JSON lines on stdin, the
 * demo's countdown calling back into the CLI, hints in CLI terms, `serve --help` listing
 * every demo method. Real child processes of the compiled CLI.
 */
import { spawn } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, buildIfStale } from '../test-util/build.js';
import { runCli, serveDemo, type DemoChild } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';
import { exited } from '../test-util/wait.js';

const scratch = new Scratch();
const suite = new Scratch();
let server: DemoChild;

beforeAll(async () => {
  await buildIfStale();
  server = await serveDemo(suite, ['tcp://127.0.0.1:0', '-v']);
}, 120_000);
afterEach(() => scratch.cleanup());
afterAll(() => suite.cleanup());

const call = (args: string[], input?: string) => runCli(['call', ...args], {}, input);

/** `wirecall call ...args` with stdin left open (a terminal nobody types into); the caller ends it. */
function callWithOpenStdin(args: string[]) {
  const child = scratch.child(spawn(process.execPath, [CLI, 'call', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => {});
  return { child, done: async () => ({ ...(await exited(child)), stdout, stderr }) };
}

describe('call --client-stream: messages from stdin, one JSON line each', () => {
  it('sends every line, prints the result; blank lines, CRLF and a last line without a newline are fine', async () => {
    expect(await call(['--client-stream', server.endpoint, 'sum'], '1\n2\n3\n')).toEqual({ code: 0, stdout: '6\n', stderr: '' });
    expect(await call(['--client-stream', server.endpoint, 'sum'], '\n10\r\n\n  \n-4\r\n0.5')).toMatchObject({ code: 0, stdout: '6.5\n' });
    // No input: a stream without messages.
    expect(await call(['--client-stream', server.endpoint, 'sum'], '')).toMatchObject({ code: 0, stdout: '0\n' });
    expect(await call(['--client-stream', server.endpoint, 'sum'])).toMatchObject({ code: 0, stdout: '0\n' });
  });

  it('100,000 lines arrive complete (flow control holds stdin back)', async () => {
    const input = Array.from({ length: 100_000 }, (_, i) => `${i}\n`).join('');
    expect(await call(['--client-stream', server.endpoint, 'sum'], input)).toMatchObject({ code: 0, stdout: `${(99_999 * 100_000) / 2}\n` });
  });

  it('a line that is not JSON cancels the stream: exit 2 naming the line', async () => {
    const r = await call(['--client-stream', server.endpoint, 'sum'], '1\n2\n{nope\n3\n');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: ERR_INVALID_JSON: stdin line 3 is not valid JSON: [^\n]*\n$/);
  });

  it("the handler's error exits 1; --timeout bounds a stream whose input never ends (exit 4)", async () => {
    const bad = await call(['--client-stream', server.endpoint, 'sum'], '1\n"two"\n3\n');
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toMatch(/^error: INVALID_ARGUMENT: sum adds numbers, got "two"\n$/);
    const open = callWithOpenStdin(['--client-stream', '--timeout', '300', server.endpoint, 'sum']);
    open.child.stdin!.write('1\n');
    const r = await open.done();
    expect(r).toMatchObject({ code: 4, stdout: '' });
    expect(r.stderr).toMatch(/^error: ERR_DEADLINE_EXCEEDED: /);
  });

  it('SIGINT while stdin is still open cancels the stream (exit 5)', async () => {
    const s = await serveDemo(scratch, ['tcp://127.0.0.1:0', '-v']);
    const open = callWithOpenStdin(['--client-stream', s.endpoint, 'sum']);
    open.child.stdin!.write('1\n2\n');
    await s.waitForStderr(/^call sum null from .* \(client-stream\)$/m);
    open.child.kill('SIGINT');
    const r = await open.done();
    expect(r).toMatchObject({ code: 5, stdout: '' });
    expect(r.stderr).toMatch(/^error: ERR_CANCELLED: /);
  });
});

describe('call --bidi: messages from stdin, each reply printed as it arrives', () => {
  it('echoes every line back as one JSON line, in order, then exits 0', async () => {
    const r = await call(['--bidi', server.endpoint, 'chat'], '"a"\n\n{"b": [1, 2]}\nnull\n3\n');
    expect(r).toEqual({ code: 0, stdout: '"a"\n{"b":[1,2]}\nnull\n3\n', stderr: '' });
    expect(await call(['--bidi', server.endpoint, 'chat'], '')).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('replies come while stdin is still open; closing it ends the stream', async () => {
    const open = callWithOpenStdin(['--bidi', server.endpoint, 'chat']);
    let out = '';
    open.child.stdout!.on('data', (d: string) => (out += d));
    open.child.stdin!.write('"first"\n');
    const deadline = Date.now() + 10_000;
    while (!out.includes('"first"\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(out).toBe('"first"\n');
    open.child.stdin!.end('"second"\n');
    expect(await open.done()).toMatchObject({ code: 0, stdout: '"first"\n"second"\n', stderr: '' });
  });

  it('50,000 messages each way, complete and in order', async () => {
    const input = Array.from({ length: 50_000 }, (_, i) => `{"i":${i}}\n`).join('');
    const r = await call(['--bidi', server.endpoint, 'chat'], input);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(input);
  });

  it('a line that is not JSON: exit 2 after the replies already printed', async () => {
    const r = await call(['--bidi', server.endpoint, 'chat'], '1\nnot json\n2\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: ERR_INVALID_JSON: stdin line 2 is not valid JSON: /);
    expect(['', '1\n']).toContain(r.stdout);
  });
});

describe('hints in CLI terms, and what cannot be combined', () => {
  it.each([
    [['sum'], /^error: METHOD_NOT_FOUND: sum is a client-stream method, not a unary one; call it with --client-stream \(/],
    [['--stream', 'chat'], /^error: METHOD_NOT_FOUND: chat is a bidi-stream method, not a server-stream one; call it with --bidi \(/],
    [['--bidi', 'count', '{"n":1}'], /^error: METHOD_NOT_FOUND: count is a server-stream method, not a bidi-stream one; call it with --stream\n$/],
    [['count', '{"n":1}'], /^error: METHOD_NOT_FOUND: count is a server-stream method, not a unary one; call it with --stream\n$/],
    [['--client-stream', 'echo'], /^error: METHOD_NOT_FOUND: echo is a unary method, not a client-stream one; call it without --stream, --client-stream or --bidi\n$/],
  ])('%j', async (args, expected) => {
    const [first, ...rest] = args;
    const argv = first!.startsWith('--') ? [first!, server.endpoint, ...rest] : [server.endpoint, first!, ...rest];
    const r = await call(argv, '');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(expected);
    expect(r.stderr).not.toMatch(/stream\(\)|call\(\)/);
  });

  it('at most one of --stream, --client-stream and --bidi; no streams over the dcc-mcp dialect', async () => {
    for (const flags of [['--stream', '--bidi'], ['--client-stream', '--bidi'], ['--stream', '--client-stream']]) {
      const r = await call([...flags, server.endpoint, 'chat']);
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toMatch(/^error: ERR_CONFLICTING_OPTIONS: option '--[a-z-]+' cannot be used with option '--[a-z-]+'\n$/);
    }
    const r = await call(['--client-stream', '--dialect', 'dcc-mcp', server.endpoint, 'sum'], '1\n');
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/^error: ERR_NOT_SUPPORTED: streams are not part of dcc-mcp-core's envelope: call it without --stream/);
  });
});

describe("the demo's countdown calls back into the CLI", () => {
  it('works from the CLI: the ticks are answered and logged on stderr, the result on stdout', async () => {
    const r = await call([server.endpoint, 'countdown', '{"from":3}']);
    expect(r).toEqual({
      code: 0,
      stdout: '{"from":3,"acks":["ack 3","ack 2","ack 1"]}\n',
      stderr: 'countdown.tick {"n":3} -> "ack 3"\ncountdown.tick {"n":2} -> "ack 2"\ncountdown.tick {"n":1} -> "ack 1"\n',
    });
    expect(await call([server.endpoint, 'countdown', '{"from":0}'])).toEqual({ code: 0, stdout: '{"from":0,"acks":[]}\n', stderr: '' });
  });

  it('a client that does not serve countdown.tick is told what is missing', async () => {
    const { connect, RemoteError } = await import('../index.js');
    const conn = await connect(server.endpoint, { heartbeatInterval: 0 });
    try {
      const err = await conn.call('countdown', { from: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as Error).message).toMatch(/countdown calls countdown.tick back on the caller, which does not serve it/);
    } finally {
      await conn.close();
    }
  });
});

describe('serve --help and serve -v', () => {
  it('--help lists every method the demo serves, with its params and result', async () => {
    const help = await runCli(['serve', '--help']);
    expect(help.code).toBe(0);
    const methods = JSON.parse((await call([server.endpoint, 'methods'])).stdout) as string[];
    expect(methods.length).toBeGreaterThanOrEqual(12);
    for (const method of methods) expect(help.stdout).toMatch(new RegExp(`^  ${method.replace('.', '\\.')} +\\S.*->`, 'm'));
    expect(help.stdout).toMatch(/^ {2}sum +--client-stream +/m);
    expect(help.stdout).toMatch(/^ {2}chat +--bidi +/m);
    expect(help.stdout).toMatch(/^ {2}count +--stream +/m);
  });

  it('-v logs every call: served ones with their params, streams with their kind, unknown methods and wrong kinds too', async () => {
    const s = await serveDemo(scratch, ['tcp://127.0.0.1:0', '-v']);
    await call([s.endpoint, 'add', '{"a":1,"b":2}']);
    await call([s.endpoint, 'nope', '{"x":1}']);
    await call([s.endpoint, 'sum']);
    await call(['--stream', s.endpoint, 'count', '{"n":2}']);
    await call(['--bidi', s.endpoint, 'chat'], '1\n');
    await call(['--stream', s.endpoint, 'echo', '"e"']);
    await runCli(['notify', s.endpoint, 'nothing.here', '[1]']);
    await runCli(['notify', s.endpoint, 'note', '"n"']);
    await s.waitForStderr(/notification note "n"\n/);
    const lines = s
      .stderr()
      .split('\n')
      .filter((l) => !/^(connected|disconnected) /.test(l) && l !== '')
      .map((l) => l.replace(/tcp:\/\/127\.0\.0\.1:\d+/, 'ADDR'));
    expect(lines).toEqual([
      'call add {"a":1,"b":2} from ADDR',
      'call nope {"x":1} from ADDR: METHOD_NOT_FOUND (no such method)',
      'call sum null from ADDR: METHOD_NOT_FOUND (a client-stream method, asked for as a unary one)',
      'call count {"n":2} from ADDR (server-stream)',
      'call chat null from ADDR (bidi-stream)',
      'call echo "e" from ADDR: METHOD_NOT_FOUND (a unary method, asked for as a server-stream)',
      'notification nothing.here [1]',
      'notification note "n"',
    ]);
  });
});
