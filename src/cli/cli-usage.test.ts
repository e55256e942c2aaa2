/**
 * The CLI's usage errors and its read-only registry listing (issue 14, items 6-8): a
 * host without a port, the one error form for every error (commander's too), and
 * `wirecall services` changing nothing on disk. Real child processes of the compiled CLI.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../test-util/build.js';
import { runCli, serveChild } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';

const scratch = new Scratch();

beforeAll(buildIfStale, 120_000);
afterEach(() => scratch.cleanup());

/** The one form of every error: exit 2, nothing on stdout, one line `error: <CODE>: <message>`. */
function expectUsageError(r: { code: number | null; stdout: string; stderr: string }, code: string, message?: RegExp): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^error: ${code}: \\S`));
  if (message !== undefined) expect(lines[0]).toMatch(message);
}

describe('a host without a port as the target (item 6)', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1:PORT'],
    ['10.1.2.3', '10.1.2.3:PORT'],
    ['localhost', 'localhost:PORT'],
    ['LOCALHOST', 'LOCALHOST:PORT'],
    ['example.com', 'example.com:PORT'],
    ['render-01.studio.local', 'render-01.studio.local:PORT'],
    ['::1', '[::1]:PORT'],
    ['[::1]', '[::1]:PORT'],
    ['fe80::1', '[fe80::1]:PORT'],
  ])('%s: "did you mean %s?" (exit 2), the registry is not read', async (target, suggestion) => {
    const dir = path.join(scratch.dir(), 'registry');
    const commands = [['call', target, 'add', '{"a":1,"b":2}'], ['ping', target], ['notify', target, 'note']];
    for (const r of await Promise.all(commands.map((args) => runCli(args, { WIRECALL_REGISTRY_DIR: dir })))) {
      expectUsageError(r, 'ERR_INVALID_ENDPOINT', new RegExp(`did you mean ${suggestion.replace(/[.[\]]/g, '\\$&')}\\?`));
      expect(r.stderr).toContain('not a DCC type');
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('a file name with a dot also suggests ./name for a Unix socket', async () => {
    const r = await runCli(['call', 'app.sock', 'echo']);
    expectUsageError(r, 'ERR_INVALID_ENDPOINT', /did you mean app\.sock:PORT\? \(or \.\/app\.sock for a Unix socket/);
  });

  it('a DCC type (a word without a dot) is still looked up in the registry', async () => {
    const dir = scratch.dir();
    for (const dccType of ['maya', '3dsmax', 'houdini_fx']) {
      const r = await runCli(['call', dccType, 'echo'], { WIRECALL_REGISTRY_DIR: dir });
      expect(r).toMatchObject({ code: 2, stdout: '', stderr: `error: ERR_SERVICE_NOT_FOUND: no live instance of ${dccType} is registered (registry ${dir})\n` });
    }
    const s = await serveChild(scratch, dir, 'maya', 'tcp://127.0.0.1:0');
    expect(await runCli(['call', 'maya', 'add', '{"a":1,"b":2}'], { WIRECALL_REGISTRY_DIR: dir })).toMatchObject({ code: 0, stdout: '3\n', stderr: '' });
    // With the port, the same host is an endpoint.
    const port = /:(\d+)$/.exec(s.endpoint)![1]!;
    expect(await runCli(['call', `127.0.0.1:${port}`, 'add', '{"a":2,"b":2}'])).toMatchObject({ code: 0, stdout: '4\n' });
    expect(await runCli(['call', `localhost:${port}`, 'echo', '"x"'])).toMatchObject({ code: 0, stdout: '"x"\n' });
  });
});

describe('every error is "error: <CODE>: <message>" (item 7)', () => {
  it.each<[string[], string, RegExp]>([
    [['call', 'maya', 'add', '{a:1}'], 'ERR_INVALID_JSON', /params are not valid JSON: /],
    [['notify', 'maya', 'note', '[1,'], 'ERR_INVALID_JSON', /params are not valid JSON: /],
    [['call', 'maya', 'add', '--bogus'], 'ERR_UNKNOWN_OPTION', /unknown option '--bogus'/],
    [['services', '--jsn'], 'ERR_UNKNOWN_OPTION', /unknown option '--jsn' \(Did you mean --json\?\)$/],
    [['call', 'maya'], 'ERR_MISSING_ARGUMENT', /missing required argument 'method'/],
    [['ping'], 'ERR_MISSING_ARGUMENT', /missing required argument 'endpoint'/],
    [['call', 'maya', 'add', '{}', 'extra'], 'ERR_TOO_MANY_ARGUMENTS', /too many arguments for 'call'/],
    [['call', 'maya', 'add', '--timeout', 'soon'], 'ERR_INVALID_OPTION_VALUE', /'--timeout <ms>' argument 'soon' is invalid\. expected a number of milliseconds >= 0/],
    [['call', 'maya', 'add', '--timeout'], 'ERR_MISSING_OPTION_VALUE', /'--timeout <ms>' argument missing/],
    [['call', 'maya', 'add', '--dialect', 'grpc'], 'ERR_INVALID_OPTION_VALUE', /Allowed choices are wirecall, dcc-mcp, dcc-link/],
    [['ping', 'maya', '--count', '0'], 'ERR_INVALID_OPTION_VALUE', /expected an integer >= 1/],
    [['serve', '--socket-mode', '644'], 'ERR_INVALID_OPTION_VALUE', /expected 600 or 660/],
    [['serve', '--token', 'a', '--token-file', '/nonexistent'], 'ERR_CONFLICTING_OPTIONS', /cannot be used with option '--token-file <path>'/],
    [['frobnicate'], 'ERR_UNKNOWN_COMMAND', /unknown command 'frobnicate'/],
    [['call', 'nonsense:x', 'add'], 'ERR_INVALID_ENDPOINT', /invalid endpoint/],
  ])('%j: %s', async (args, code, message) => {
    expectUsageError(await runCli(args, { WIRECALL_REGISTRY_DIR: path.join(scratch.dir(), 'none') }), code, message);
  });

  it('no command: the usage, then the error line', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: wirecall');
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('error: ERR_MISSING_COMMAND: a command is required (see the usage above)');
  });

  it('help and --version still exit 0 with nothing on stderr', async () => {
    expect(await runCli(['--version'])).toMatchObject({ code: 0, stderr: '' });
    expect(await runCli(['services', '--help'])).toMatchObject({ code: 0, stderr: '' });
  });
});

describe('wirecall services changes nothing (item 8)', () => {
  /** Every file under `dir` with its bytes. */
  function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
      const file = path.join(entry.parentPath, entry.name);
      out[path.relative(dir, file)] = entry.isFile() ? readFileSync(file, 'latin1') : '<dir>';
    }
    return out;
  }

  it('a missing --registry-dir is not created; the table says "no services", --json prints []', async () => {
    const dir = path.join(scratch.dir(), 'not', 'there');
    const table = await runCli(['services', '--registry-dir', dir]);
    expect(table).toMatchObject({ code: 0, stdout: `no live services (registry ${dir})\n`, stderr: '' });
    expect(await runCli(['services', '--registry-dir', dir, '--json'])).toMatchObject({ code: 0, stdout: '[]\n', stderr: '' });
    expect(await runCli(['services', 'maya', '--all', '--registry-dir', dir])).toMatchObject({
      code: 0,
      stdout: `no instances of maya (registry ${dir})\n`,
    });
    expect(await runCli(['call', 'maya', 'echo', '--registry-dir', dir])).toMatchObject({ code: 2 });
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(path.dirname(dir))).toBe(false);
  });

  it.each([
    ['not JSON', '{"dcc_type": "maya",'],
    ['NUL bytes', '\0\0\0\0'],
    ['not an array', '{"rows": []}'],
  ])('a corrupt services.json (%s) is listed as empty with a warning and left as it is', async (_what, content) => {
    const dir = scratch.dir();
    writeFileSync(path.join(dir, 'services.json'), content);
    const before = snapshot(dir);
    for (const args of [['services'], ['services', '--json'], ['services', '--all'], ['call', 'maya', 'echo'], ['ping', 'maya']]) {
      const r = await runCli([...args, '--registry-dir', dir]);
      expect(r.code).toBe(args[0] === 'services' ? 0 : 2);
      expect(r.stderr).toMatch(/^warning: .*services\.json is corrupt \(.*\); listing it as empty and leaving it as it is/);
      expect(snapshot(dir)).toEqual(before);
    }
    expect((await runCli(['services', '--json', '--registry-dir', dir])).stdout).toBe('[]\n');
  });

  it('malformed rows are skipped with a warning; the file, locks and sentinels are untouched', async () => {
    const dir = scratch.dir();
    const s = await serveChild(scratch, dir, 'maya', 'tcp://127.0.0.1:0');
    const file = path.join(dir, 'services.json');
    const rows = JSON.parse(readFileSync(file, 'utf8')) as unknown[];
    writeFileSync(file, JSON.stringify([...rows, { dcc_type: 42 }], null, 2));
    const before = snapshot(dir);
    const r = await runCli(['services', '--json'], { WIRECALL_REGISTRY_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: skipping a malformed row in .*dcc_type/);
    expect((JSON.parse(r.stdout) as Array<{ instanceId: string }>).map((row) => row.instanceId)).toEqual([s.instanceId]);
    expect(snapshot(dir)).toEqual(before);
  });

  it('an empty services.json (or only whitespace) lists nothing, without a warning', async () => {
    const dir = scratch.dir();
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'services.json'), '  \n');
    expect(await runCli(['services', '--registry-dir', path.join(dir, 'sub')])).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^no live services/) });
  });
});
