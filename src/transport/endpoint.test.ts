import fc from 'fast-check';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidEndpoint } from '../errors.js';
import {
  formatEndpoint,
  parseEndpoint,
  runtimeDirPath,
  UNIX_PATH_MAX,
  validateEndpoint,
  type Endpoint,
} from './index.js';

const CWD = '/srv/app';

// Keep the pipe length checks independent of the machine's XDG_RUNTIME_DIR.
let savedXdg: string | undefined;
beforeEach(() => {
  savedXdg = process.env['XDG_RUNTIME_DIR'];
  process.env['XDG_RUNTIME_DIR'] = '/run/user/1000';
});
afterEach(() => {
  if (savedXdg === undefined) delete process.env['XDG_RUNTIME_DIR'];
  else process.env['XDG_RUNTIME_DIR'] = savedXdg;
});

function reason(input: string): string {
  try {
    parseEndpoint(input, { cwd: CWD });
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidEndpoint);
    expect((err as InvalidEndpoint).endpoint).toBe(input);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parseEndpoint: accepted forms', () => {
  const table: Array<[string, string, Endpoint]> = [
    ['tcp://127.0.0.1:4000', 'tcp://127.0.0.1:4000', { kind: 'tcp', host: '127.0.0.1', port: 4000 }],
    ['127.0.0.1:4000', 'tcp://127.0.0.1:4000', { kind: 'tcp', host: '127.0.0.1', port: 4000 }],
    ['0.0.0.0:0', 'tcp://0.0.0.0:0', { kind: 'tcp', host: '0.0.0.0', port: 0 }],
    ['localhost:80', 'tcp://localhost:80', { kind: 'tcp', host: 'localhost', port: 80 }],
    ['TCP://Example.COM:443', 'tcp://Example.COM:443', { kind: 'tcp', host: 'Example.COM', port: 443 }],
    ['example.com.:1', 'tcp://example.com.:1', { kind: 'tcp', host: 'example.com.', port: 1 }],
    ['my_host-1:65535', 'tcp://my_host-1:65535', { kind: 'tcp', host: 'my_host-1', port: 65535 }],
    ['127.0.0.1:08080', 'tcp://127.0.0.1:8080', { kind: 'tcp', host: '127.0.0.1', port: 8080 }],
    ['[::1]:4000', 'tcp://[::1]:4000', { kind: 'tcp', host: '::1', port: 4000 }],
    ['tcp://[::1]:4000', 'tcp://[::1]:4000', { kind: 'tcp', host: '::1', port: 4000 }],
    ['[::]:0', 'tcp://[::]:0', { kind: 'tcp', host: '::', port: 0 }],
    ['[::ffff:127.0.0.1]:9', 'tcp://[::ffff:127.0.0.1]:9', { kind: 'tcp', host: '::ffff:127.0.0.1', port: 9 }],
    ['[fe80::1%eth0]:80', 'tcp://[fe80::1%eth0]:80', { kind: 'tcp', host: 'fe80::1%eth0', port: 80 }],
    ['tls://render-07.studio:7443', 'tls://render-07.studio:7443', { kind: 'tcp', host: 'render-07.studio', port: 7443, tls: true }],
    ['TLS://127.0.0.1:0', 'tls://127.0.0.1:0', { kind: 'tcp', host: '127.0.0.1', port: 0, tls: true }],
    ['tls://[::1]:443', 'tls://[::1]:443', { kind: 'tcp', host: '::1', port: 443, tls: true }],
    ['unix:/tmp/x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['unix:///tmp/x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['unix://tmp/x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['UNIX:/tmp/x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['unix:/a/../tmp/./x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['/tmp/x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['//tmp/x.sock', 'unix:/tmp/x.sock', { kind: 'unix', path: '/tmp/x.sock' }],
    ['/tmp/ünïcödé.sock', 'unix:/tmp/ünïcödé.sock', { kind: 'unix', path: '/tmp/ünïcödé.sock' }],
    ['unix:rel/x.sock', 'unix:/srv/app/rel/x.sock', { kind: 'unix', path: '/srv/app/rel/x.sock' }],
    ['unix:x.sock', 'unix:/srv/app/x.sock', { kind: 'unix', path: '/srv/app/x.sock' }],
    ['./x.sock', 'unix:/srv/app/x.sock', { kind: 'unix', path: '/srv/app/x.sock' }],
    ['../x.sock', 'unix:/srv/x.sock', { kind: 'unix', path: '/srv/x.sock' }],
    ['pipe://my-plugin', 'pipe://my-plugin', { kind: 'pipe', name: 'my-plugin' }],
    ['Pipe://my.plugin_1', 'pipe://my.plugin_1', { kind: 'pipe', name: 'my.plugin_1' }],
    ['\\\\.\\pipe\\my-plugin', 'pipe://my-plugin', { kind: 'pipe', name: 'my-plugin' }],
  ];
  it.each(table)('%s -> %s', (input, canonical, expected) => {
    const parsed = parseEndpoint(input, { cwd: CWD });
    expect(parsed).toEqual(expected);
    expect(formatEndpoint(parsed)).toBe(canonical);
    expect(parseEndpoint(canonical, { cwd: CWD })).toEqual(expected);
  });

  it('uses process.cwd() for relative paths by default', () => {
    expect(parseEndpoint('./a.sock')).toEqual({ kind: 'unix', path: path.join(process.cwd(), 'a.sock') });
  });
});

describe('parseEndpoint: errors', () => {
  const table: Array<[string, RegExp]> = [
    ['', /empty endpoint/],
    [' 127.0.0.1:80', /whitespace/],
    ['127.0.0.1:80\n', /whitespace/],
    ['127.0.0.1:\t80', /whitespace/],
    ['unix:/tmp/a b.sock', /whitespace/],
    ['unix:/tmp/a\u0000b', /control/],
    ['/tmp/\u00a0x', /whitespace/],
    [':80', /empty host/],
    ['tcp://:80', /empty host/],
    ['tcp://:0', /empty host/],
    ['localhost', /missing port/],
    ['localhost:', /missing port/],
    ['tcp://localhost', /missing port/],
    ['x.sock', /missing port.*\.\/name/],
    ['localhost:http', /port "http" is not a number/],
    ['127.0.0.1:-1', /not a number/],
    ['127.0.0.1:1.5', /not a number/],
    ['tcp://localhost:80/path', /not a number/],
    ['127.0.0.1:65536', /out of range 0-65535/],
    ['127.0.0.1:99999999999', /out of range/],
    ['::1:80', /brackets: write \[::1\]:80/],
    ['tcp://::1:80', /brackets/],
    ['fe80::1:8080', /brackets: write \[fe80::1\]:8080/],
    ['[::1]', /missing port/],
    ['[::1]:', /missing port/],
    ['[::1', /missing "\]"/],
    ['[]:80', /empty host/],
    ['[127.0.0.1]:80', /not an IPv6 address/],
    ['[localhost]:80', /not an IPv6 address/],
    ['[::1]80', /unexpected "80"/],
    ['999.1.1.1:80', /not a valid IPv4 address/],
    ['1.2.3:80', /not a valid IPv4 address/],
    ['user@host:80', /not a valid host name/],
    ['host/path:80', /not a valid host name/],
    ['a..b:80', /not a valid host name/],
    ['-a:80', /not a valid host name/],
    [`${'a'.repeat(64)}:80`, /not a valid host name/],
    ['http://localhost:80', /unknown scheme "http"/],
    ['ws://x', /unknown scheme "ws"/],
    ['tcp:80', /write tcp:\/\/host:port/],
    ['unix:', /empty Unix socket path/],
    ['unix://', /empty Unix socket path/],
    ['unix:///', /empty Unix socket path/],
    ['unix:/tmp/', /not end with "\/"/],
    ['unix://.', /must name a file/],
    ['unix:/tmp/..', /must name a file/],
    ['./', /must name a file/],
    ['unix:.', /must name a file/],
    ['/', /empty Unix socket path/],
    ['pipe://', /empty pipe name/],
    ['pipe:name', /write pipe:\/\/name/],
    ['pipe://a/b', /may not contain/],
    ['pipe://a\\b', /may not contain/],
    ['\\\\.\\pipe\\', /empty pipe name/],
  ];
  it.each(table)('%j is rejected', (input, expected) => {
    expect(reason(input)).toMatch(expected);
  });
});

describe('Unix path length', () => {
  it('matches the platform limit', () => {
    expect(UNIX_PATH_MAX).toBe(process.platform === 'linux' ? 107 : 103);
  });

  it('accepts exactly UNIX_PATH_MAX bytes and rejects one more, naming both numbers', () => {
    const ok = '/' + 'a'.repeat(UNIX_PATH_MAX - 1);
    expect(Buffer.byteLength(ok)).toBe(UNIX_PATH_MAX);
    expect(parseEndpoint(`unix:${ok}`)).toEqual({ kind: 'unix', path: ok });
    const tooLong = ok + 'a';
    const message = reason(`unix:${tooLong}`);
    expect(message).toContain(`${UNIX_PATH_MAX + 1} bytes`);
    expect(message).toContain(`limit on ${process.platform} is ${UNIX_PATH_MAX} bytes`);
    expect(reason(tooLong)).toContain(`${UNIX_PATH_MAX + 1} bytes`);
  });

  it.runIf(process.platform === 'linux')('107 bytes is fine on Linux, 108 is not', () => {
    expect(() => parseEndpoint('/' + 'x'.repeat(106))).not.toThrow();
    expect(reason('/' + 'x'.repeat(107))).toMatch(/108 bytes; the limit on linux is 107 bytes/);
  });

  it('counts bytes, not characters', () => {
    // 'é' is 2 bytes in UTF-8; '😀' is 4.
    const half = Math.floor((UNIX_PATH_MAX - 1) / 2);
    const fits = '/' + 'é'.repeat(half);
    expect(Buffer.byteLength(fits)).toBeLessThanOrEqual(UNIX_PATH_MAX);
    expect(parseEndpoint(fits)).toEqual({ kind: 'unix', path: fits });
    const over = '/' + '😀'.repeat(30); // 31 characters, 121 bytes
    expect(over.length).toBeLessThan(UNIX_PATH_MAX);
    expect(reason(over)).toContain('121 bytes');
  });

  it('checks the resolved length of relative paths', () => {
    const cwd = '/' + 'd'.repeat(100);
    expect(() => parseEndpoint('./abcdefgh.sock', { cwd })).toThrow(/bytes.*resolved to/);
  });

  it('checks the Unix socket a pipe name maps to on POSIX', () => {
    if (process.platform === 'win32') return;
    const name = 'p'.repeat(200);
    const message = reason(`pipe://${name}`);
    expect(message).toContain(path.join(runtimeDirPath(), `${name}.sock`));
    expect(message).toMatch(/\d+ bytes; the limit/);
  });
});

describe('validateEndpoint', () => {
  it('accepts and canonicalises good objects', () => {
    expect(validateEndpoint({ kind: 'tcp', host: '::1', port: 1 })).toEqual({ kind: 'tcp', host: '::1', port: 1 });
    expect(validateEndpoint({ kind: 'unix', path: '/a/../b.sock' })).toEqual({ kind: 'unix', path: '/b.sock' });
    expect(validateEndpoint({ kind: 'tcp', host: 'h', port: 1, tls: true })).toStrictEqual({ kind: 'tcp', host: 'h', port: 1, tls: true });
  });

  it('a tls:// endpoint is TCP with tls: true; a plain one has no tls key at all', () => {
    expect(parseEndpoint('tcp://h:1')).toStrictEqual({ kind: 'tcp', host: 'h', port: 1 });
    expect(() => parseEndpoint('tls:h:1')).toThrow(/write tls:\/\/host:port/);
    expect(() => parseEndpoint('tls://h')).toThrow(/missing port/);
    expect(() => validateEndpoint({ kind: 'tcp', host: 'h', port: 1, tls: 'yes' } as never)).toThrow(InvalidEndpoint);
  });

  it.each([
    { kind: 'tcp', host: '', port: 1 },
    { kind: 'tcp', host: 'x', port: 70000 },
    { kind: 'tcp', host: 'x', port: 1.5 },
    { kind: 'tcp', host: '[::1]', port: 1 },
    { kind: 'tcp', host: 'x', port: '80' },
    { kind: 'unix', path: '' },
    { kind: 'pipe', name: 'a/b' },
    { kind: 'udp', host: 'x', port: 1 },
  ])('rejects %j', (bad) => {
    expect(() => validateEndpoint(bad as unknown as Endpoint)).toThrow(InvalidEndpoint);
  });
});

describe('property tests', () => {
  const segment = fc
    .array(fc.constantFrom('a', 'Z', '0', '.', '_', '-', 'é', '中', '😀', '%', ':', '@'), { minLength: 1, maxLength: 10 })
    .map((cs) => cs.join(''))
    .filter((s) => s !== '.' && s !== '..');
  const unixPath = fc
    .array(segment, { minLength: 1, maxLength: 8 })
    .map((segs) => '/' + segs.join('/'))
    .filter((p) => Buffer.byteLength(p) <= UNIX_PATH_MAX);
  const tcp: fc.Arbitrary<Endpoint> = fc
    .record({
      kind: fc.constant('tcp' as const),
      host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain(), fc.constant('localhost')),
      port: fc.integer({ min: 0, max: 65535 }),
      tls: fc.boolean(),
    })
    .map(({ tls, ...e }) => (tls ? { ...e, tls: true as const } : e));
  const unix: fc.Arbitrary<Endpoint> = unixPath.map((p) => ({ kind: 'unix' as const, path: p }));
  const pipe: fc.Arbitrary<Endpoint> = fc
    .array(fc.constantFrom('a', 'Z', '9', '.', '_', '-', 'é'), { minLength: 1, maxLength: 40 })
    .map((cs) => ({ kind: 'pipe' as const, name: cs.join('') }));

  it('format(parse(format(e))) round-trips for valid endpoints', () => {
    fc.assert(
      fc.property(fc.oneof(tcp, unix, pipe), (e) => {
        const text = formatEndpoint(e);
        const parsed = parseEndpoint(text);
        expect(parsed).toEqual(e);
        expect(formatEndpoint(parsed)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  const fragments = fc.constantFrom(
    'tcp://', 'tls://', 'unix:', 'unix://', 'pipe://', 'http://', '[', ']', '::', ':', '/', './', '../', '\\',
    '127.0.0.1', '::1', 'localhost', '80', '65536', '0', '-', '.', ' ', '%', 'é', '\u0000', 'a',
  );
  const fuzz = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.array(fragments, { maxLength: 8 }).map((a) => a.join('')),
  );

  it('random input either parses to a stable canonical form or throws InvalidEndpoint', () => {
    fc.assert(
      fc.property(fuzz, (input) => {
        let parsed: Endpoint;
        try {
          parsed = parseEndpoint(input, { cwd: CWD });
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidEndpoint);
          return;
        }
        const canonical = formatEndpoint(parsed);
        expect(formatEndpoint(parseEndpoint(canonical, { cwd: CWD }))).toBe(canonical);
      }),
      { numRuns: 5000 },
    );
  });
});
