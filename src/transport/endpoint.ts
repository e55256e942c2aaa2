/**
 * The one endpoint grammar. Every string a user gives us goes through parseEndpoint;
 * everything we advertise comes out of formatEndpoint, so the two round-trip.
 *
 *   tcp://host:port   host:port   [::1]:port   tcp://[::1]:port
 *   tls://host:port   tls://[::1]:port          (TCP with TLS: docs/TLS.md)
 *   unix:/abs/path    unix:///abs/path   unix://x/y (= /x/y, as pyvider)   /abs/path
 *   unix:rel/path     ./rel/path   ../rel/path        (made absolute against cwd)
 *   pipe://name       \\.\pipe\name
 */
import net from 'node:net';
import path from 'node:path';
import { InvalidEndpoint } from '../errors.js';
import { runtimeDirPath, privateRuntimeDir } from './runtime-dir.js';

export type Endpoint =
  | { kind: 'tcp'; host: string; port: number; tls?: true } // host without brackets, e.g. '::1'; tls: a tls:// endpoint
  | { kind: 'unix'; path: string } // absolute path
  | { kind: 'pipe'; name: string }; // Windows named pipe name (a private Unix socket on POSIX)

/** Usable bytes in sockaddr_un.sun_path (the array also holds the trailing NUL). */
export const UNIX_PATH_MAX: number = process.platform === 'linux' ? 107 : 103;

export interface ParseOptions {
  /** Base for relative Unix paths; defaults to process.cwd(). */
  cwd?: string;
}

const WIN_PIPE_PREFIX = '\\\\.\\pipe\\';
// Windows limits the full pipe path (prefix included) to 256 characters.
const WIN_PIPE_MAX = 256;

export function parseEndpoint(input: string, options: ParseOptions = {}): Endpoint {
  if (typeof input !== 'string') throw new InvalidEndpoint(String(input), 'an endpoint must be a string');
  const fail = (reason: string): never => {
    throw new InvalidEndpoint(input, reason);
  };
  if (input === '') fail('empty endpoint');
  if (/[\s\p{Cc}]/u.test(input)) fail('endpoints may not contain whitespace or control characters');

  if (input.slice(0, WIN_PIPE_PREFIX.length).toLowerCase() === WIN_PIPE_PREFIX) {
    return pipeEndpoint(input.slice(WIN_PIPE_PREFIX.length), fail);
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/)?/.exec(input);
  const name = scheme?.[1]?.toLowerCase();
  const slashes = scheme?.[2] !== undefined;
  if (name === 'unix') return unixEndpoint(input.slice('unix:'.length), options.cwd, fail);
  if (name === 'tcp' || name === 'tls' || name === 'pipe') {
    if (!slashes) fail(`write ${name}://${name === 'pipe' ? 'name' : 'host:port'}`);
    const rest = input.slice(scheme![0].length);
    if (name === 'pipe') return pipeEndpoint(rest, fail);
    const tcp = tcpEndpoint(rest, fail);
    return name === 'tls' ? { ...tcp, tls: true } : tcp;
  }
  if (slashes) fail(`unknown scheme "${scheme![1]}"; expected tcp://, tls://, unix: or pipe://`);
  if (input.startsWith('/') || input.startsWith('./') || input.startsWith('../')) {
    return unixEndpoint(input, options.cwd, fail);
  }
  return tcpEndpoint(input, fail);
}

export function formatEndpoint(e: Endpoint): string {
  switch (e.kind) {
    case 'tcp': {
      const scheme = e.tls === true ? 'tls' : 'tcp';
      return e.host.includes(':') ? `${scheme}://[${e.host}]:${e.port}` : `${scheme}://${e.host}:${e.port}`;
    }
    case 'unix':
      return `unix:${e.path}`;
    case 'pipe':
      return `pipe://${e.name}`;
  }
}

/**
 * Checks an Endpoint object that did not come from parseEndpoint (hand-built, from
 * JSON…) by running it through the grammar; returns the canonical form.
 */
export function validateEndpoint(e: Endpoint, options: ParseOptions = {}): Endpoint {
  const kind: unknown = (e as { kind?: unknown } | null)?.kind;
  if (kind !== 'tcp' && kind !== 'unix' && kind !== 'pipe') {
    throw new InvalidEndpoint(String(kind), 'unknown endpoint kind; expected tcp, unix or pipe');
  }
  if (e.kind === 'tcp' && (typeof e.host !== 'string' || typeof e.port !== 'number')) {
    throw new InvalidEndpoint(String(e.host), 'a tcp endpoint needs a string host and a numeric port');
  }
  if (e.kind === 'tcp' && e.tls !== undefined && e.tls !== true) {
    throw new InvalidEndpoint(String(e.host), 'a tcp endpoint\'s tls must be true or absent');
  }
  if (e.kind === 'unix' && typeof e.path !== 'string') {
    throw new InvalidEndpoint(String(e.path), 'a unix endpoint needs a string path');
  }
  if (e.kind === 'pipe' && typeof e.name !== 'string') {
    throw new InvalidEndpoint(String(e.name), 'a pipe endpoint needs a string name');
  }
  const parsed = parseEndpoint(formatEndpoint(e), options);
  if (parsed.kind !== e.kind) {
    throw new InvalidEndpoint(formatEndpoint(e), `does not parse back as a ${e.kind} endpoint`);
  }
  return parsed;
}

/**
 * Where a pipe really lives: `\\.\pipe\name` on Windows; on POSIX the Unix socket
 * `<private runtime dir>/<name>.sock` (creating/checking the runtime dir, see runtime-dir.ts).
 */
export function pipePath(name: string): string {
  const fail = (reason: string): never => {
    throw new InvalidEndpoint(`pipe://${name}`, reason);
  };
  checkPipeName(name, fail);
  if (process.platform === 'win32') return WIN_PIPE_PREFIX + name;
  // Checked again here: the environment may have changed since parsing.
  checkPipeSocketLength(name, runtimeDirPath(), fail);
  return path.join(privateRuntimeDir(), `${name}.sock`);
}

/** The UTF-8 byte length check every Unix socket path goes through. */
export function unixPathTooLong(p: string): string | undefined {
  const bytes = Buffer.byteLength(p, 'utf8');
  return bytes > UNIX_PATH_MAX
    ? `Unix socket path is ${bytes} bytes; the limit on ${process.platform} is ${UNIX_PATH_MAX} bytes`
    : undefined;
}

type Fail = (reason: string) => never;

function tcpEndpoint(rest: string, fail: Fail): Extract<Endpoint, { kind: 'tcp' }> {
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return fail('missing "]" after the IPv6 address');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (host === '') fail('empty host');
    if (!net.isIPv6(host)) fail(`"${host}" is not an IPv6 address (brackets are only for IPv6)`);
    if (after === '' || after === ':') fail('missing port (expected [host]:port)');
    if (!after.startsWith(':')) fail(`unexpected "${after}" after "]"; expected :port`);
    portText = after.slice(1);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) {
      fail('missing port (expected host:port; for a relative Unix socket path write ./name or unix:name)');
    }
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host === '') fail('empty host (write 127.0.0.1:port to listen on loopback)');
    if (host.includes(':')) {
      fail(`IPv6 addresses need brackets: write [${host}]:${portText || 'port'}`);
    }
    checkHostName(host, fail);
  }
  return { kind: 'tcp', host, port: parsePort(portText, fail) };
}

function checkHostName(host: string, fail: Fail): void {
  if (net.isIPv4(host)) return;
  if (/^[\d.]+$/.test(host)) fail(`"${host}" is not a valid IPv4 address`);
  // DNS names; underscores are allowed because container/host names use them.
  const label = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length > 253 || !name.split('.').every((l) => label.test(l))) {
    fail(`"${host}" is not a valid host name or IP address`);
  }
}

function parsePort(text: string, fail: Fail): number {
  if (text === '') fail('missing port');
  if (!/^\d+$/.test(text)) fail(`port "${text}" is not a number`);
  const port = text.length > 5 ? Infinity : Number(text);
  if (port > 65535) fail(`port ${text} is out of range 0-65535`);
  return port;
}

function unixEndpoint(raw: string, cwd: string | undefined, fail: Fail): Endpoint {
  if (/^\/*$/.test(raw)) fail('empty Unix socket path');
  const last = raw.slice(raw.lastIndexOf('/') + 1);
  if (last === '' || last === '.' || last === '..') {
    fail('a Unix socket path must name a file, not end with "/", "." or ".."');
  }
  // pyvider compatibility: unix://x/y and unix:///x/y both mean /x/y.
  const collapsed = raw.startsWith('/') ? '/' + raw.replace(/^\/+/, '') : raw;
  const abs = path.resolve(cwd ?? process.cwd(), collapsed);
  const tooLong = unixPathTooLong(abs);
  if (tooLong !== undefined) fail(tooLong + (abs === raw ? '' : ` (resolved to ${abs})`));
  return { kind: 'unix', path: abs };
}

function pipeEndpoint(name: string, fail: Fail): Endpoint {
  checkPipeName(name, fail);
  if (process.platform !== 'win32') checkPipeSocketLength(name, runtimeDirPath(), fail);
  return { kind: 'pipe', name };
}

function checkPipeName(name: string, fail: Fail): void {
  if (name === '') fail('empty pipe name');
  if (name.includes('/') || name.includes('\\')) fail('a pipe name may not contain "/" or "\\"');
  if (/[\s\p{Cc}]/u.test(name)) fail('a pipe name may not contain whitespace or control characters');
  if (WIN_PIPE_PREFIX.length + name.length > WIN_PIPE_MAX) {
    fail(`pipe name is too long (at most ${WIN_PIPE_MAX - WIN_PIPE_PREFIX.length} characters)`);
  }
}

function checkPipeSocketLength(name: string, dir: string, fail: Fail): void {
  const socketPath = path.join(dir, `${name}.sock`);
  const tooLong = unixPathTooLong(socketPath);
  if (tooLong !== undefined) fail(`on this system the pipe is the Unix socket ${socketPath}; ${tooLong}`);
}
