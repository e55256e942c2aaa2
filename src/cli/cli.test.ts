/**
 * End-to-end tests of the `wirecall` CLI and the demo: real child processes running the
 * compiled JavaScript (built once in beforeAll), talking over real sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, DEMO, ROOT, buildIfStale } from '../test-util/build.js';
import { serveDemo, type DemoChild } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';
import { exited } from '../test-util/wait.js';

const TOKEN_WARNING = 'warning: a token given with --token is visible to other local users (ps); use $WIRECALL_TOKEN or --token-file instead';
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** What one test starts (undone after each test), and what the whole file shares (undone after all). */
const scratch = new Scratch();
const suite = new Scratch();

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Our environment for a child, without a token of the person running the tests, plus `extra`. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('WIRECALL_TOKEN' in extra)) delete env['WIRECALL_TOKEN'];
  return env;
}

/** Runs `node <script> ...args` to completion (killed after `timeoutMs`). */
function runNode(
  script: string,
  args: string[],
  options: { timeoutMs?: number; onSpawn?: (child: ChildProcess) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<Result> {
  const child = scratch.child(spawn(process.execPath, [script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(options.env) }));
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  options.onSpawn?.(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'close': the exit status and every byte of output are in.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const cli = (...args: string[]): Promise<Result> => runNode(CLI, args);
const cliWithEnv = (env: NodeJS.ProcessEnv, ...args: string[]): Promise<Result> => runNode(CLI, args, { env });

type Served = DemoChild;

/** Starts `wirecall serve ...args` and waits for its first stdout line (shared by the whole file when `persistent`). */
function serve(args: string[], persistent = false, env: NodeJS.ProcessEnv = {}): Promise<Served> {
  return serveDemo(persistent ? suite : scratch, args, env);
}

/** A TCP port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server that accepts and then says nothing: a handshake that never finishes. */
async function silentServer(): Promise<{ endpoint: string; nextAccept(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `tcp://127.0.0.1:${port}`,
    nextAccept: () => new Promise<void>((resolve) => server.once('connection', () => resolve())),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let tcp: Served;

beforeAll(async () => {
  await buildIfStale();
  tcp = await serve(['tcp://127.0.0.1:0', '--name', 'test-server'], true);
}, 60_000);

afterEach(() => scratch.cleanup());

afterAll(() => suite.cleanup());

describe('wirecall --help and --version', () => {
  it('prints the package version', async () => {
    const r = await cli('--version');
    expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it.each([[[]], [['serve']], [['call']], [['notify']], [['ping']]])('--help works for %j', async (cmd) => {
    const r = await cli(...cmd, '--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`Usage: wirecall${cmd.length ? ` ${cmd[0]}` : ''}`);
    expect(r.stdout).toContain('Exit codes:');
    expect(r.stdout).toMatch(/3 +transport failure/);
  });

  it('help <command> works too', async () => {
    const r = await cli('help', 'ping');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: wirecall ping');
  });

  it('no command is a usage error (exit 2)', async () => {
    const r = await cli();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: wirecall');
  });
});

describe('wirecall serve', () => {
  it('prints exactly "listening on <tcp endpoint>" first', () => {
    expect(tcp.stdoutLines[0]).toMatch(/^listening on tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(tcp.endpoint).not.toMatch(/:0$/);
  });

  it('serves on a Unix socket path, and SIGTERM exits 0 and removes the socket file', async () => {
    const dir = suite.dir();
    const file = path.join(dir, 's.sock');
    const s = await serve([`unix:${file}`, '--socket-mode', '660']);
    expect(s.stdoutLines[0]).toBe(`listening on unix:${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o660);
    // Any spelling of the endpoint grammar reaches it.
    for (const ep of [s.endpoint, file]) {
      const r = await cli('call', ep, 'add', '{"a":20,"b":22}');
      expect(r).toMatchObject({ code: 0, stdout: '42\n', stderr: '' });
    }
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    expect(existsSync(file)).toBe(false);
  });

  it('defaults to a fresh private Unix socket; SIGINT exits 0 and removes it', async () => {
    const s = await serve([]);
    const m = /^unix:(\/.+\.sock)$/.exec(s.endpoint);
    expect(m).not.toBeNull();
    const file = m![1]!;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await cli('call', s.endpoint, 'echo', '"hi"')).stdout).toBe('"hi"\n');
    s.child.kill('SIGINT');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    expect(existsSync(file)).toBe(false);
    expect(existsSync(path.dirname(file))).toBe(false);
  });

  it('SIGTERM lets an in-flight call finish before exiting 0', async () => {
    const s = await serve(['tcp://127.0.0.1:0', '-v']);
    const call = cli('call', s.endpoint, 'sleep', '{"ms":700}');
    await s.waitForStderr(/^call sleep \{"ms":700\} from /m);
    s.child.kill('SIGTERM');
    const r = await call;
    expect(r).toMatchObject({ code: 0, stdout: '{"slept":700}\n', stderr: '' });
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
  });

  it('a second signal exits at once', async () => {
    const s = await serve(['tcp://127.0.0.1:0', '-v', '--drain-timeout', '10000']);
    const call = cli('call', s.endpoint, 'sleep', '{"ms":8000}');
    await s.waitForStderr(/^call sleep /m);
    s.child.kill('SIGTERM');
    await s.waitForStderr(/SIGTERM: closing/);
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 143, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
    const r = await call;
    expect(r.code).toBe(3); // the connection went away under the call
    expect(r.stderr).toMatch(/^error: ERR_CONNECTION_\w+: /);
  });

  it('--token: clients without the right token are rejected (exit 3)', async () => {
    const s = await serve(['tcp://127.0.0.1:0', '--token', 's3cret']);
    const none = await cli('call', s.endpoint, 'echo', '1');
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^error: ERR_HANDSHAKE_REJECTED: .*UNAUTHENTICATED/);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    const wrong = await cli('call', s.endpoint, 'echo', '1', '--token', 'nope');
    expect(wrong.code).toBe(3);
    const right = await cli('call', s.endpoint, 'echo', '1', '--token', 's3cret');
    // Works as before, with one line of warning: the token is in every user's `ps`.
    expect(right).toMatchObject({ code: 0, stdout: '1\n', stderr: `${TOKEN_WARNING}\n` });
    await s.waitForStderr(/^warning: a token given with --token is visible/);
    expect(s.stderr()).toBe(`${TOKEN_WARNING}\n`);
  });

  it('an address in use is a transport failure (exit 3)', async () => {
    const r = await cli('serve', tcp.endpoint);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: ERR_ADDRESS_IN_USE: /);
  });

  it('bad endpoints and options are usage errors (exit 2)', async () => {
    const bad = await cli('serve', 'tcp://nohost');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: ERR_INVALID_ENDPOINT: /);
    const mode = await cli('serve', '--socket-mode', '644');
    expect(mode.code).toBe(2);
    expect(mode.stderr).toContain('600 or 660');
  });
});

describe('tokens from $WIRECALL_TOKEN and --token-file', () => {
  /** A token file with `content`, mode `mode`. */
  function tokenFile(content: string, mode = 0o600): string {
    const file = path.join(suite.dir(), 'token');
    writeFileSync(file, content, { mode });
    chmodSync(file, mode); // whatever the umask
    return file;
  }

  it('$WIRECALL_TOKEN serves and calls, without a warning', async () => {
    const s = await serve(['tcp://127.0.0.1:0'], false, { WIRECALL_TOKEN: 's3cret' });
    expect(await cliWithEnv({ WIRECALL_TOKEN: 's3cret' }, 'call', s.endpoint, 'echo', '1')).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    const none = await cli('call', s.endpoint, 'echo', '1');
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^error: ERR_HANDSHAKE_REJECTED: .*UNAUTHENTICATED/);
    const wrong = await cliWithEnv({ WIRECALL_TOKEN: 'nope' }, 'ping', s.endpoint);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^error: ERR_HANDSHAKE_REJECTED: /);
    expect(s.stderr()).toBe('');
  });

  it('--token-file serves and calls (one trailing newline is not part of the token), without a warning', async () => {
    const file = tokenFile('s3cret\n');
    const s = await serve(['tcp://127.0.0.1:0', '--token-file', file]);
    expect(await cli('call', s.endpoint, 'echo', '1', '--token-file', file)).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    expect(await cli('call', s.endpoint, 'echo', '1', '--token-file', tokenFile('s3cret'))).toMatchObject({ code: 0, stdout: '1\n' });
    const wrong = await cli('notify', s.endpoint, 'note', '"x"', '--token-file', tokenFile('s3cret\n\n'));
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^error: ERR_HANDSHAKE_REJECTED: /);
    // A symlink is followed; its target is what must be private.
    const link = path.join(suite.dir(), 'link');
    symlinkSync(file, link);
    expect(await cli('call', s.endpoint, 'echo', '1', '--token-file', link)).toMatchObject({ code: 0, stdout: '1\n' });
    expect(s.stderr()).toBe('');
  });

  it('precedence: --token over --token-file over $WIRECALL_TOKEN; both options are a usage error', async () => {
    const s = await serve(['tcp://127.0.0.1:0', '--token-file', tokenFile('s3cret')], false, { WIRECALL_TOKEN: 'nope' });
    const env = { WIRECALL_TOKEN: 'nope' };
    expect(await cliWithEnv(env, 'call', s.endpoint, 'echo', '1', '--token-file', tokenFile('s3cret'))).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await cliWithEnv(env, 'call', s.endpoint, 'echo', '1', '--token', 's3cret')).toMatchObject({ code: 0, stdout: '1\n' });
    expect((await cliWithEnv({ WIRECALL_TOKEN: 's3cret' }, 'call', s.endpoint, 'echo', '1', '--token', 'nope')).code).toBe(3);

    for (const cmd of [['call', s.endpoint, 'echo'], ['serve', 'tcp://127.0.0.1:0']]) {
      const both = await cli(...cmd, '--token', 's3cret', '--token-file', tokenFile('s3cret'));
      expect(both.code).toBe(2);
      expect(both.stdout).toBe('');
      expect(both.stderr).toMatch(/^error: ERR_CONFLICTING_OPTIONS: option '--token <token>' cannot be used with option '--token-file <path>'\n$/);
    }
  });

  it.runIf(process.platform !== 'win32')('refuses a token file others can read or write, saying what to run (exit 2)', async () => {
    for (const mode of [0o644, 0o640, 0o602]) {
      const file = tokenFile('s3cret\n', mode);
      for (const cmd of [['call', tcp.endpoint, 'echo', '1'], ['ping', tcp.endpoint], ['serve', 'tcp://127.0.0.1:0']]) {
        const r = await cli(...cmd, '--token-file', file);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe('');
        const shown = mode.toString(8);
        expect(r.stderr).toBe(`error: ERR_TOKEN_FILE: the token file ${file} is accessible by others (mode ${shown}); run: chmod 600 ${file}\n`);
      }
    }
    // Through a symlink: the target's mode counts.
    const link = path.join(suite.dir(), 'link');
    symlinkSync(tokenFile('s3cret', 0o644), link);
    expect((await cli('call', tcp.endpoint, 'echo', '1', '--token-file', link)).stderr).toMatch(/^error: ERR_TOKEN_FILE: .*mode 644/);
  });

  it('refuses an empty, missing or non-regular token file (exit 2)', async () => {
    const cases: Array<[string, RegExp]> = [
      [tokenFile('\n'), /is empty/],
      [path.join(suite.dir(), 'missing'), /cannot read the token file .*ENOENT/],
      [suite.dir(), /is not a regular file/],
    ];
    for (const [file, why] of cases) {
      const r = await cli('call', tcp.endpoint, 'echo', '1', '--token-file', file);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^error: ERR_TOKEN_FILE: /);
      expect(r.stderr).toMatch(why);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });

  it.runIf(process.getuid?.() === 0)('refuses a token file owned by another user (run as root here)', async () => {
    const file = tokenFile('s3cret');
    chownSync(file, 65534, 65534);
    const r = await cli('call', tcp.endpoint, 'echo', '1', '--token-file', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: ERR_TOKEN_FILE: the token file .* is owned by uid 65534, not by you \(uid 0\)/);
  });
});

describe('wirecall call', () => {
  it('prints the result as one line of JSON', async () => {
    expect(await cli('call', tcp.endpoint, 'add', '{"a":2,"b":3}')).toEqual({ code: 0, signal: null, stdout: '5\n', stderr: '' });
    const value = { s: 'x', n: [1, 2.5, null], o: { deep: true } };
    expect((await cli('call', tcp.endpoint, 'echo', JSON.stringify(value))).stdout).toBe(`${JSON.stringify(value)}\n`);
  });

  it('prints null when there is no result', async () => {
    expect(await cli('call', tcp.endpoint, 'echo')).toMatchObject({ code: 0, stdout: 'null\n' });
  });

  it('methods and whoami', async () => {
    const methods = JSON.parse((await cli('call', tcp.endpoint, 'methods')).stdout) as string[];
    expect(methods).toEqual(expect.arrayContaining(['add', 'countdown', 'echo', 'fail', 'methods', 'sleep']));
    const me = JSON.parse((await cli('call', tcp.endpoint, 'whoami')).stdout) as { name: string };
    expect(me.name).toBe('wirecall-cli');
  });

  it('remote errors exit 1 with one line on stderr', async () => {
    const nope = await cli('call', tcp.endpoint, 'nope');
    expect(nope).toEqual({ code: 1, signal: null, stdout: '', stderr: 'error: METHOD_NOT_FOUND: method not found: nope\n' });
    const fail = await cli('call', tcp.endpoint, 'fail', '{"message":"boom\\nsecond line"}');
    expect(fail).toMatchObject({ code: 1, stderr: 'error: METHOD_ERROR: boom\\nsecond line\n' });
    const add = await cli('call', tcp.endpoint, 'add', '{"a":"x","b":1}');
    expect(add.code).toBe(1);
    expect(add.stderr).toMatch(/^error: INVALID_ARGUMENT: add needs/);
  });

  it('countdown: the CLI answers the countdown.tick calls back, logging each on stderr', async () => {
    const r = await cli('call', tcp.endpoint, 'countdown', '{"from":2}');
    expect(r).toMatchObject({ code: 0, stdout: '{"from":2,"acks":["ack 2","ack 1"]}\n' });
    expect(r.stderr).toBe('countdown.tick {"n":2} -> "ack 2"\ncountdown.tick {"n":1} -> "ack 1"\n');
  });

  it('params that are not JSON are a usage error (exit 2)', async () => {
    const r = await cli('call', tcp.endpoint, 'add', '{a:1}');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: ERR_INVALID_JSON: params are not valid JSON: /);
  });

  it('bad endpoints, missing arguments and unknown options are usage errors (exit 2)', async () => {
    const cases = [
      ['call', 'nonsense', 'add'],
      ['call', 'ftp://x:1', 'add'],
      ['call', tcp.endpoint],
      ['call', tcp.endpoint, 'add', '{}', '--bogus'],
      ['call', tcp.endpoint, 'add', '{}', 'extra'],
      ['call', tcp.endpoint, 'add', '--timeout', 'soon'],
      ['frobnicate'],
    ];
    const results = await Promise.all(cases.map((args) => cli(...args)));
    cases.forEach((args, i) => {
      const r = results[i]!;
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(/^error: [A-Z_]+: /);
      expect(r.stdout).toBe('');
    });
  });

  it('cannot connect: exit 3 (closed TCP port, missing Unix socket)', async () => {
    const port = await closedPort();
    const refused = await cli('call', `tcp://127.0.0.1:${port}`, 'echo');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^error: ERR_CONNECTION_FAILED: connection refused/);
    const missing = await cli('call', `unix:${path.join(suite.dir(), 'none.sock')}`, 'echo');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error: ERR_CONNECTION_FAILED: /);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a handshake that never finishes: --connect-timeout gives up (exit 3), SIGINT cancels (exit 5)', async () => {
    const silent = await silentServer();
    try {
      const timedOut = await cli('call', silent.endpoint, 'echo', '--connect-timeout', '300');
      expect(timedOut.code).toBe(3);
      expect(timedOut.stderr).toMatch(/^error: ERR_HANDSHAKE_TIMEOUT: /);
      let child!: ChildProcess;
      const t0 = Date.now();
      const accepted = silent.nextAccept();
      const call = runNode(CLI, ['call', silent.endpoint, 'echo'], { onSpawn: (c) => (child = c) });
      await accepted;
      child.kill('SIGINT');
      const r = await call;
      expect(r.code).toBe(5);
      expect(r.stderr).toBe('error: ERR_CANCELLED: interrupted by SIGINT\n');
      expect(Date.now() - t0).toBeLessThan(5000); // not the 10 s handshake timeout
    } finally {
      await silent.close();
    }
  });

  it('--timeout: a call past its deadline exits 4', async () => {
    const t0 = Date.now();
    const r = await cli('call', tcp.endpoint, 'sleep', '{"ms":5000}', '--timeout', '50');
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: ERR_DEADLINE_EXCEEDED: /);
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('SIGINT during a call cancels it: exit 5', async () => {
    const s = await serve(['tcp://127.0.0.1:0', '-v']);
    let child!: ChildProcess;
    const call = runNode(CLI, ['call', s.endpoint, 'sleep', '{"ms":10000}'], { onSpawn: (c) => (child = c) });
    await s.waitForStderr(/^call sleep /m);
    child.kill('SIGINT');
    const r = await call;
    expect(r).toMatchObject({ code: 5, stdout: '' });
    expect(r.stderr).toMatch(/^error: ERR_CANCELLED: /);
  });
});

describe('wirecall call --stream', () => {
  it('prints one JSON line per message of a server stream, then exits 0', async () => {
    expect(await cli('call', '--stream', tcp.endpoint, 'count', '{"n":3}')).toEqual({ code: 0, signal: null, stdout: '0\n1\n2\n', stderr: '' });
    expect(await cli('call', '--stream', tcp.endpoint, 'count', '{"n":0}')).toMatchObject({ code: 0, stdout: '' });
  });

  it('pipes 200,000 messages complete and in order', async () => {
    const r = await cli('call', '--stream', tcp.endpoint, 'count', '{"n":200000}');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(200_001); // the last line ends with a newline too
    expect(lines[199_999]).toBe('199999');
    expect(lines.every((l, i) => i === 200_000 ? l === '' : l === String(i))).toBe(true);
  });

  it('a reader that goes away early (head) ends the stream quietly', async () => {
    const child = scratch.child(spawn(`"${process.execPath}" "${CLI}" call --stream ${tcp.endpoint} count '{"n":100000000}' | head -3`, { shell: true, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const { code } = await exited(child);
    expect(code).toBe(0);
    expect(out).toBe('0\n1\n2\n');
  });

  it('remote errors and a wrong method kind exit 1', async () => {
    const bad = await cli('call', '--stream', tcp.endpoint, 'count', '{"n":-1}');
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toMatch(/^error: INVALID_ARGUMENT: count needs/);
    const unary = await cli('call', '--stream', tcp.endpoint, 'echo', '1');
    expect(unary.code).toBe(1);
    expect(unary.stderr).toMatch(/echo is a unary method/);
    const plain = await cli('call', tcp.endpoint, 'count', '{"n":1}');
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/count is a server-stream method.*--stream|count is a server-stream method/);
  });

  it('--timeout bounds the whole stream (exit 4 after the lines delivered)', async () => {
    const r = await cli('call', '--stream', '--timeout', '300', tcp.endpoint, 'count', '{"n":1000000000}');
    expect(r.code).toBe(4);
    expect(r.stdout.startsWith('0\n1\n2\n')).toBe(true);
    expect(r.stderr).toMatch(/^error: /);
  });
});

describe('wirecall ping', () => {
  it('prints one line per pong and a summary', async () => {
    const r = await cli('ping', tcp.endpoint, '--count', '3', '--interval', '10');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const line of lines.slice(0, 3)) {
      expect(line).toMatch(new RegExp(`^pong from ${tcp.endpoint.replace(/[.]/g, '\\.')}: time=\\d+\\.\\d{3} ms$`));
    }
    expect(lines[3]).toMatch(/^min\/avg\/max = \d+\.\d{3}\/\d+\.\d{3}\/\d+\.\d{3} ms$/);
  });

  it('one ping: no summary', async () => {
    const r = await cli('ping', tcp.endpoint);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^pong from tcp:\/\/127\.0\.0\.1:\d+: time=\d+\.\d{3} ms\n$/);
  });

  it('exit codes: 3 when nothing listens, 2 for a bad count', async () => {
    const r = await cli('ping', `127.0.0.1:${await closedPort()}`);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: ERR_CONNECTION_FAILED: /);
    expect((await cli('ping', tcp.endpoint, '--count', '0')).code).toBe(2);
  });
});

describe('wirecall notify', () => {
  it('sends a notification and exits 0 once it is flushed', async () => {
    const s = await serve(['tcp://127.0.0.1:0', '-v']);
    const r = await cli('notify', s.endpoint, 'note', '{"text":"hello"}');
    expect(r).toEqual({ code: 0, signal: null, stdout: '', stderr: '' });
    await s.waitForStderr(/^notification note \{"text":"hello"\}$/m);
    // The demo server keeps notes; a later call on another connection sees it.
    expect((await cli('call', s.endpoint, 'notes')).stdout).toBe('[{"text":"hello"}]\n');
    // -v logs go to stderr: stdout still holds just the "listening on" line.
    expect(s.stdoutLines).toEqual([`listening on ${s.endpoint}`]);
  });

  it('exit codes: 2 for bad JSON, 3 when nothing listens', async () => {
    expect((await cli('notify', tcp.endpoint, 'note', '{nope')).code).toBe(2);
    expect((await cli('notify', `tcp://127.0.0.1:${await closedPort()}`, 'note')).code).toBe(3);
  });
});

describe('demo', () => {
  it('runs to completion and exits 0 by itself', async () => {
    const r = await runNode(DEMO, []);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const label of ['unix', 'tcp']) {
      expect(r.stdout).toContain(`[${label}] call add({a: 2, b: 3}) -> 5`);
      expect(r.stdout).toContain(`[${label}]   client handles countdown.tick(1) called by the server`);
      expect(r.stdout).toContain(`[server] got notification note({"text":"hello over ${label}"})`);
      expect(r.stdout).toContain(`[${label}] call nope() -> RemoteError METHOD_NOT_FOUND: method not found: nope`);
      expect(r.stdout).toMatch(new RegExp(`\\[${label}\\] call sleep.* -> DeadlineExceeded`));
      expect(r.stdout).toMatch(new RegExp(`\\[${label}\\] call sleep.* -> CallCancelled`));
      expect(r.stdout).toMatch(new RegExp(`\\[${label}\\] ping -> \\d+\\.\\d{3} ms`));
    }
    expect(r.stdout).toMatch(/\[server\] listening on unix:\//);
    expect(r.stdout).toMatch(/\[server\] listening on tcp:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).toContain('unix socket file removed: yes');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('demo done');
  });
});

describe('a server process that dies', () => {
  it('fails the calls in flight with ConnectionLost, and a new server on the same path takes over', async () => {
    const { connect, ConnectionLost } = await import('../index.js');
    const dir = scratch.dir();
    const sock = path.join(dir, 's.sock');
    const first = await serve([`unix:${sock}`]);
    const conn = await connect(first.endpoint, { heartbeatInterval: 0 });
    const inflight = conn.call('sleep', { ms: 10_000 }).catch((e: unknown) => e);
    expect(await conn.call('add', { a: 1, b: 2 })).toBe(3);
    first.child.kill('SIGKILL');
    expect(await inflight).toBeInstanceOf(ConnectionLost);
    await expect(conn.call('add', { a: 1, b: 2 })).rejects.toBeInstanceOf(ConnectionLost);
    // SIGKILL left the socket file behind: the next server finds it stale and binds.
    expect(existsSync(sock)).toBe(true);
    const second = await serve([`unix:${sock}`]);
    const again = await connect(second.endpoint, { heartbeatInterval: 0 });
    expect(await again.call('add', { a: 2, b: 2 })).toBe(4);
    await again.close();
  });
});
