/**
 * What every CLI command shares: exit codes, mapping errors to them, one-line error
 * output, argument parsers and the package version. No RPC logic lives here.
 */
import type { TlsFlags } from './tls-flags.js';
import { UsageError } from './usage-error.js';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { CommanderError, InvalidArgumentError } from 'commander';
import {
  CallCancelled,
  DeadlineExceeded,
  InvalidArgument,
  InvalidEndpoint,
  InvalidOption,
  NotSupported,
  RegistryFileError,
  RemoteError,
  ServiceNotFound,
  Status,
  TransportError,
  WirecallError,
  formatEndpoint,
  parseEndpoint,
  type DialectName,
} from '../index.js';
import { defaultRegistryDir } from '../manager/index.js';
import { demoCallbacks } from './demo-service.js';
import { errorMessage } from '../util/error-message.js';

export const ExitCode = {
  OK: 0,
  /** The server answered with an error status (RemoteError). */
  REMOTE_ERROR: 1,
  /** Bad arguments, bad endpoint grammar, params that are not JSON, no live instance of a DCC type. */
  USAGE: 2,
  /** The connection failed (refused, timed out, lost, closed, protocol, handshake rejected), or the service registry could not be read or written. */
  TRANSPORT: 3,
  /** The call's deadline passed (DeadlineExceeded). */
  DEADLINE: 4,
  /** The call was cancelled, e.g. by SIGINT (CallCancelled). */
  CANCELLED: 5,
  /** A bug in the CLI or the library: an error that fits none of the above. */
  INTERNAL: 70,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODES_HELP = `
Exit codes:
  0   ok
  1   remote error: the server answered with an error status (RemoteError)
  2   usage error: bad arguments, bad endpoint, params that are not valid JSON,
      no live instance of the DCC type named as target, a host without a port,
      stdin lines that are not JSON (--client-stream, --bidi), something the
      dialect cannot carry (a stream with --dialect dcc-mcp or dcc-link)
  3   transport failure: connection failed, timed out, lost or closed, protocol
      error, handshake rejected (e.g. wrong --token); service registry unusable
  4   deadline exceeded (--timeout passed)
  5   cancelled (e.g. SIGINT during a call)
  70  internal error (a bug)

Errors are printed as one line on stderr: "error: <CODE>: <message>", where CODE is
the status name for remote errors (e.g. METHOD_NOT_FOUND) and the error code
otherwise (e.g. ERR_CONNECTION_FAILED).`;

export const ENDPOINT_HELP = `
Endpoints:
  tcp://host:port   host:port   [::1]:port   unix:/abs/path   /abs/path   pipe://name
  tls://host:port   TCP with TLS (--tls-cert, --tls-key, --tls-ca; docs/TLS.md)
  A bare word (no ':' or '/'), e.g. maya, is a DCC type: a live instance of it is
  looked up in the service registry (--registry-dir, else $WIRECALL_REGISTRY=redis://…
  for a Redis registry, else $WIRECALL_REGISTRY_DIR, else $DCC_MCP_REGISTRY_DIR, else
  <tmpdir>/dcc-mcp-registry, the directory dcc-mcp-core uses).
  A host without a port (127.0.0.1, localhost, example.com, ::1) is neither: add the port.`;

export { UsageError } from './usage-error.js';

/** The error codes printed for commander's own errors (its `code` → ours). */
const COMMANDER_CODES: Record<string, string> = {
  'commander.unknownOption': 'ERR_UNKNOWN_OPTION',
  'commander.unknownCommand': 'ERR_UNKNOWN_COMMAND',
  'commander.missingArgument': 'ERR_MISSING_ARGUMENT',
  'commander.excessArguments': 'ERR_TOO_MANY_ARGUMENTS',
  'commander.optionMissingArgument': 'ERR_MISSING_OPTION_VALUE',
  'commander.missingMandatoryOptionValue': 'ERR_MISSING_OPTION',
  'commander.invalidArgument': 'ERR_INVALID_OPTION_VALUE',
  'commander.conflictingOption': 'ERR_CONFLICTING_OPTIONS',
  'commander.help': 'ERR_MISSING_COMMAND',
};

/**
 * A commander error as a UsageError, printed like every other error. Commander's
 * message starts with "error: " and may carry a second line ("(Did you mean --json?)").
 */
export function usageErrorOf(err: CommanderError): UsageError {
  const message =
    err.code === 'commander.help'
      ? 'a command is required (see the usage above)'
      : err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim();
  return new UsageError(message, COMMANDER_CODES[err.code] ?? 'ERR_USAGE');
}

export function exitCodeFor(err: unknown): ExitCode {
  if (
    err instanceof UsageError ||
    err instanceof InvalidEndpoint ||
    err instanceof InvalidOption ||
    err instanceof InvalidArgument ||
    err instanceof NotSupported ||
    err instanceof ServiceNotFound
  ) {
    return ExitCode.USAGE;
  }
  if (err instanceof RemoteError) return ExitCode.REMOTE_ERROR;
  if (err instanceof DeadlineExceeded) return ExitCode.DEADLINE;
  if (err instanceof CallCancelled) return ExitCode.CANCELLED;
  if (err instanceof TransportError || err instanceof RegistryFileError) return ExitCode.TRANSPORT;
  return ExitCode.INTERNAL;
}

/** How the CLI opens each kind of method, for the server's "open it with stream()" hints. */
const CLI_HINTS: Record<string, string> = {
  'call()': 'call it without --stream, --client-stream or --bidi',
  'stream()': 'call it with --stream',
  'clientStream()': 'call it with --client-stream (messages as JSON lines on stdin)',
  'bidiStream()': 'call it with --bidi (messages as JSON lines on stdin)',
};

/** A METHOD_NOT_FOUND for a method of another kind names the library call to use: say the CLI flag instead. */
function cliHint(message: string): string {
  return message.replace(/; open it with (call|stream|clientStream|bidiStream)\(\)$/, (whole, api: string) => {
    const hint = CLI_HINTS[`${api}()`];
    return hint === undefined ? whole : `; ${hint}`;
  });
}

/** `error: METHOD_NOT_FOUND: method not found: nope` — always exactly one line. */
export function formatError(err: unknown): string {
  let text: string;
  if (err instanceof RemoteError) text = `${err.statusName}: ${err.status === Status.METHOD_NOT_FOUND ? cliHint(err.message) : err.message}`;
  else if (err instanceof NotSupported) text = `${err.code}: ${err.message.replace(/: use call\(\)/, ': call it without --stream, --client-stream or --bidi')}`;
  else if (err instanceof WirecallError) text = `${err.code}: ${err.message}`;
  else if (err instanceof UsageError) text = `${err.code}: ${err.message}`;
  else if (err instanceof Error) text = `${err.name}: ${err.message}`;
  else text = String(err);
  return `error: ${oneLine(text)}`;
}

function oneLine(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\\n');
}

/** Print the error line and set the exit code for it. */
export function reportError(err: unknown): ExitCode {
  const code = exitCodeFor(err);
  process.stderr.write(formatError(err) + '\n');
  if (code === ExitCode.INTERNAL && err instanceof Error && process.env['WIRECALL_DEBUG']) {
    process.stderr.write(`${err.stack ?? ''}\n`);
  }
  return code;
}

/** Optional JSON params argument; absent means "no params". */
export function parseJsonParams(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`params are not valid JSON: ${errorMessage(err)}`, 'ERR_INVALID_JSON');
  }
}

/** A bare word (no ':', '/' or '\\') names a DCC type in the service registry, not an endpoint. */
export function isServiceName(target: string): boolean {
  return /^[^:/\\\s]+$/.test(target);
}

/**
 * A target that is a host without a port: an IPv4 or IPv6 literal (bracketed or not),
 * `localhost`, or a word with a dot (`example.com`; DCC types have none). Decided from
 * the text alone, without DNS, so the answer never depends on the network.
 */
export function bareHost(target: string): string | undefined {
  const host = /^\[(.*)\]$/.exec(target)?.[1] ?? target;
  if (isIP(host) === 6) return `[${host}]`;
  if (isIP(host) !== 0 || host.toLowerCase() === 'localhost') return host;
  if (isServiceName(host) && /^[\w-]+(\.[\w-]+)+\.?$/.test(host)) return host;
  return undefined;
}

/** The registry directory of a command: --registry-dir, else the registry's default ($WIRECALL_REGISTRY_DIR, $DCC_MCP_REGISTRY_DIR, dcc-mcp-core's). */
export function registryDirOf(flags: { registryDir?: string }): string {
  return flags.registryDir ?? defaultRegistryDir();
}

/** Validates the endpoint grammar up front (usage error, exit 2) and returns its canonical form. */
export function canonicalEndpoint(text: string): string {
  return formatEndpoint(parseEndpoint(text));
}

/** The result as one line of JSON; `undefined` prints `null`. */
export function toJsonLine(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, jsonReplacer) ?? 'null';
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (value === undefined) return null;
  return value;
}

// ---------------------------------------------------------------- option parsers (commander)

export function parseMs(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of milliseconds >= 0');
  return n;
}

export function parsePositiveMs(text: string): number {
  const n = parseMs(text);
  if (n <= 0) throw new InvalidArgumentError('expected a number of milliseconds > 0');
  return n;
}

export function parseCount(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

export function parseSocketMode(text: string): 0o600 | 0o660 {
  const t = text.trim().replace(/^0o?/, '');
  if (t === '600') return 0o600;
  if (t === '660') return 0o660;
  throw new InvalidArgumentError('expected 600 or 660');
}

// ---------------------------------------------------------------- version

let cachedVersion: string | undefined;

/**
 * The package version. The compiled CLI is dist/src/cli/main.js, so package.json is
 * three levels up; we walk up a few levels and check the name so running from the
 * sources (src/cli) works too.
 */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  for (const rel of ['../../../package.json', '../../package.json', '../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'wirecall' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
    } catch {
      // Not there: try the next level.
    }
  }
  return (cachedVersion = '0.0.0-unknown');
}

// ---------------------------------------------------------------- signals

/**
 * Runs `onSignal` on the first SIGINT/SIGTERM; a second one exits at once with
 * 128 + signal number. Returns a function that removes the handlers.
 */
export function onInterrupt(onSignal: (signal: NodeJS.Signals) => void): () => void {
  let seen = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (seen) process.exit(signal === 'SIGINT' ? 130 : 143);
    seen = true;
    onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Connection options shared by call, ping and notify. */
export interface ClientFlags extends TlsFlags {
  /** The token comes from these or $WIRECALL_TOKEN: see token.ts. */
  token?: string;
  tokenFile?: string;
  connectTimeout?: number;
  registryDir?: string;
  /** With a DCC type as target: the instance id or unique prefix. */
  instance?: string;
  /** `dcc-mcp`: talk to a dcc-mcp-core IpcListener in its envelope. */
  dialect?: DialectName;
}

/**
 * `token` is the one resolved from the flags and the environment (token.ts). On
 * wirecall's own dialect the CLI serves the demo's callbacks (countdown.tick), each
 * logged on stderr, so `wirecall call <endpoint> countdown` works like the demo's client.
 */
export function clientOptions(flags: ClientFlags, token: string | undefined, signal: AbortSignal) {
  const wirecall = flags.dialect === undefined || flags.dialect === 'wirecall';
  return {
    name: 'wirecall-cli',
    version: packageVersion(),
    signal,
    ...(wirecall ? { handlers: demoCallbacks((line) => process.stderr.write(`${line}\n`)) } : {}),
    ...(token === undefined ? {} : { token }),
    // Payloads stay bytes here: dcc-mcp-payload.ts turns them into JSON or hex.
    ...(flags.dialect === undefined || flags.dialect === 'wirecall' ? {} : { dialect: flags.dialect }),
    ...(flags.connectTimeout === undefined ? {} : { connectTimeout: flags.connectTimeout, handshakeTimeout: flags.connectTimeout }),
  };
}
