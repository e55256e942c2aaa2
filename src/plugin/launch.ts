/**
 * The host side: launchPlugin() starts a plugin process with go-plugin's handshake
 * environment, reads its one handshake line, connects with wirecall and hands back the
 * connection with the process (logs, kill, exit status).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CertificateUntrusted, InvalidOption } from '../errors.js';
import { connect, type ConnectOptions } from '../rpc/client.js';
import type { Connection } from '../rpc/connection.js';
import type { Contract } from '../rpc/contract.js';
import type { TlsClientOptions } from '../transport/tls-options.js';
import { errorMessage } from '../util/error-message.js';
import { autoMTLSClientOptions, generateAutoMTLSCert, type AutoMTLSCert } from './auto-mtls.js';
import { certFromField } from './cert-field.js';
import { PluginExited, PluginHandshakeInvalid, PluginHandshakeTimeout, PluginStartFailed } from './errors.js';
import {
  DEFAULT_HANDSHAKE,
  ENV_CLIENT_CERT,
  ENV_MAX_PORT,
  ENV_MIN_PORT,
  ENV_PROTOCOL_VERSIONS,
  ENV_UNIX_SOCKET_DIR,
  ENV_UNIX_SOCKET_GROUP,
  ENV_WATCH_STDIN,
  checkHandshake,
  checkPortRange,
  checkVersions,
  endpointOfLine,
  parseHandshakeLine,
  type HandshakeConfig,
  type HandshakeLine,
} from './handshake.js';
import { LineTail, MAX_LINE, readLines } from './lines.js';
import { setGroupWritable } from './socket-group.js';

export interface LaunchOptions<Local = Contract, Remote = Contract> {
  /** The magic cookie; default DEFAULT_HANDSHAKE (the one servePlugin defaults to). */
  handshake?: HandshakeConfig;
  /** App protocol versions this host speaks, sent in PLUGIN_PROTOCOL_VERSIONS. Default [1]. */
  protocolVersions?: readonly number[];
  /** Milliseconds to wait for the handshake line (Infinity: no limit). Default 60 000 (go-plugin's). */
  handshakeTimeout?: number;
  /** PLUGIN_MIN_PORT / PLUGIN_MAX_PORT for a plugin that listens on TCP. Default 10000–25000 (go-plugin's). */
  minPort?: number;
  maxPort?: number;
  /** Where the private directory passed in PLUGIN_UNIX_SOCKET_DIR is made. Default os.tmpdir(). */
  unixSocketTempDir?: string;
  /**
   * PLUGIN_UNIX_SOCKET_GROUP: the group (name or gid) the plugin gives its socket to,
   * group-writable (0660); the socket directory is given to it too (0770), as go-plugin
   * does. This process must be a member. An unknown group: InvalidOption.
   */
  unixSocketGroup?: string;
  /**
   * go-plugin's AutoMTLS: make an ephemeral client certificate, pass it in
   * PLUGIN_CLIENT_CERT, require the plugin's certificate in SERVER-CERT, and connect with
   * mutual TLS trusting exactly that certificate (over a Unix socket too). Needs the
   * optional peer dependencies @peculiar/x509 and reflect-metadata. Default false.
   */
  autoMTLS?: boolean;
  /** Base environment (default process.env); the handshake variables are set on top. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Gets the plugin's stderr lines (from the start) and its stdout lines after the
   * handshake line, one call per line. Default: dropped (the last ones are in stderrTail()).
   */
  logger?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** kill(): milliseconds between the graceful request (close, SIGTERM) and SIGKILL. Default 2000. */
  killGracePeriod?: number;
  /** How many stderr lines to keep for errors and stderrTail(). Default 20. */
  stderrLines?: number;
  /**
   * When this process exits while the plugin still runs, send it SIGTERM (go-plugin's
   * CleanupClients, for plugins that do not watch their host). Default true.
   */
  killOnExit?: boolean;
  /** Options for the wirecall connection (name, token, handlers, timeouts …). */
  connect?: ConnectOptions<Local, Remote>;
}

/** How the process ended: an exit code, or the signal that ended it. */
export interface PluginExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LaunchedPlugin<Remote = Contract, Local = Contract> {
  /** The wirecall connection to the plugin. */
  readonly connection: Connection<Remote, Local>;
  /**
   * The endpoint it announced, e.g. `unix:/tmp/plugin-dir123/plugin456` or
   * `tcp://127.0.0.1:10000` (`tls://…` with AutoMTLS).
   */
  readonly endpoint: string;
  /**
   * With AutoMTLS: the `tls` option another connection to the plugin needs (our
   * certificate and key, its certificate as the only CA, servername `localhost`,
   * `unixSockets`). Undefined without AutoMTLS.
   */
  readonly tls: (TlsClientOptions & { cert: string; key: string; ca: string[] }) | undefined;
  /** The parsed handshake line; `appVersion` is the negotiated app protocol version. */
  readonly handshake: HandshakeLine;
  readonly pid: number;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<PluginExit>;
  /** undefined while it runs. */
  readonly exitStatus: PluginExit | undefined;
  /**
   * Closes the connection, sends SIGTERM, and SIGKILL after killGracePeriod if it is still
   * running. Idempotent; resolves to the exit status.
   */
  kill(): Promise<PluginExit>;
  /** Its last stderr lines, oldest first. */
  stderrTail(): string[];
}

const DEFAULT_TIMEOUT = 60_000;
const DEFAULT_GRACE = 2_000;
/** setTimeout's longest delay; a longer one fires at once. */
const MAX_TIMER = 2_147_483_647;

/** Starts `command args…` as a plugin and connects to it. Rejects with a PluginError (the process stopped). */
export async function launchPlugin<Remote = Contract, Local = Contract>(
  command: string,
  args: readonly string[] = [],
  options: LaunchOptions<NoInfer<Local>, NoInfer<Remote>> = {},
): Promise<LaunchedPlugin<Remote, Local>> {
  const cfg = resolve(options);
  const hostCert = options.autoMTLS === true ? await generateAutoMTLSCert() : undefined;
  const socketDir = process.platform === 'win32' ? undefined : makeSocketDir(options.unixSocketTempDir ?? os.tmpdir(), options.unixSocketGroup);
  const env: NodeJS.ProcessEnv = {
    ...(options.env ?? process.env),
    [cfg.handshake.magicCookieKey]: cfg.handshake.magicCookieValue,
    [ENV_PROTOCOL_VERSIONS]: cfg.versions.join(','),
    [ENV_MIN_PORT]: String(cfg.minPort),
    [ENV_MAX_PORT]: String(cfg.maxPort),
    [ENV_WATCH_STDIN]: '1',
    ...(socketDir === undefined ? {} : { [ENV_UNIX_SOCKET_DIR]: socketDir }),
    ...(options.unixSocketGroup === undefined ? {} : { [ENV_UNIX_SOCKET_GROUP]: options.unixSocketGroup }),
    ...(hostCert === undefined ? {} : { [ENV_CLIENT_CERT]: hostCert.certPem }),
  };
  // Without AutoMTLS a PLUGIN_CLIENT_CERT inherited from our own host must not reach the plugin.
  if (hostCert === undefined) delete env[ENV_CLIENT_CERT];
  let child: ChildProcess;
  try {
    // stdin stays a pipe we never write to: when this process dies it closes, and the plugin (servePlugin) exits.
    child = spawn(command, [...args], { env, stdio: ['pipe', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  } catch (err) {
    removeDir(socketDir);
    throw new PluginStartFailed(`cannot start plugin ${JSON.stringify(command)}: ${errorMessage(err)}`, { cause: err });
  }
  const proc = new PluginChild(child, cfg.grace, cfg.stderrLines, options.logger, socketDir);
  if (options.killOnExit !== false) killOnExit(child, proc.exited);
  let line: HandshakeLine;
  let tls: LaunchedPlugin['tls'];
  try {
    const text = await proc.handshakeLine(command, cfg.timeout);
    line = parseHandshakeLine(text);
    checkHandshake(line, cfg.versions, undefined, { autoMTLS: hostCert !== undefined });
    tls = hostCert === undefined ? undefined : clientTlsFor(hostCert, line);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const endpoint = tls !== undefined && line.network === 'tcp' ? `tls://${line.address}` : endpointOfLine(line);
  let connection: Connection<Remote, Local>;
  try {
    connection = await connect<Remote, Local>(endpoint, { ...options.connect, ...(tls === undefined ? {} : { tls }) });
    if (tls !== undefined) checkPinned(connection, line, endpoint);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  proc.connection = connection;
  return {
    connection,
    endpoint,
    tls,
    handshake: line,
    pid: child.pid ?? -1,
    exited: proc.exited,
    get exitStatus() {
      return proc.status;
    },
    kill: () => proc.stop(),
    stderrTail: () => proc.tail.snapshot(),
  };
}

function resolve(options: LaunchOptions<never, never>) {
  const versions = checkVersions(options.protocolVersions ?? [1], 'protocolVersions');
  const minPort = options.minPort ?? 10_000;
  const maxPort = options.maxPort ?? 25_000;
  checkPortRange(minPort, maxPort);
  const timeout = options.handshakeTimeout ?? DEFAULT_TIMEOUT;
  const grace = options.killGracePeriod ?? DEFAULT_GRACE;
  const stderrLines = options.stderrLines ?? 20;
  if (!(timeout > 0) || (Number.isFinite(timeout) && timeout > MAX_TIMER)) {
    throw new InvalidOption(`handshakeTimeout must be a positive number of ms up to ${MAX_TIMER}, or Infinity; got ${String(timeout)}`);
  }
  if (grace > MAX_TIMER) throw new InvalidOption(`killGracePeriod must be at most ${MAX_TIMER} ms, got ${grace}`);
  if (!(grace >= 0) || !Number.isFinite(grace)) throw new InvalidOption(`killGracePeriod must be a finite number of ms ≥ 0, got ${String(grace)}`);
  if (!Number.isInteger(stderrLines) || stderrLines < 0) throw new InvalidOption(`stderrLines must be an integer ≥ 0, got ${String(stderrLines)}`);
  const handshake = options.handshake ?? DEFAULT_HANDSHAKE;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(handshake.magicCookieKey)) {
    throw new InvalidOption(`magicCookieKey must be an environment variable name, got ${JSON.stringify(handshake.magicCookieKey)}`);
  }
  return { versions, minPort, maxPort, timeout, grace, stderrLines, handshake };
}

/** Children to SIGTERM when this process exits: one 'exit' listener for all of them. */
const running = new Set<ChildProcess>();
let exitHook = false;

function killOnExit(child: ChildProcess, exited: Promise<PluginExit>): void {
  running.add(child);
  void exited.then(() => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGTERM');
  });
}

/** The private (0700, from mkdtemp) directory passed in PLUGIN_UNIX_SOCKET_DIR; with a group, 0770 and that group's. */
function makeSocketDir(parent: string, group: string | undefined): string {
  let dir: string;
  try {
    dir = mkdtempSync(path.join(parent, 'plugin-dir'));
  } catch (err) {
    throw new PluginStartFailed(`cannot create the plugin's socket directory under ${parent}: ${errorMessage(err)}`, { cause: err });
  }
  if (group === undefined) return dir;
  try {
    setGroupWritable(dir, group, 0o770, 'unixSocketGroup');
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  return dir;
}

/** AutoMTLS: our certificate, and the plugin's from SERVER-CERT as the one CA, checked as `localhost`. */
function clientTlsFor(own: AutoMTLSCert, line: HandshakeLine): NonNullable<LaunchedPlugin['tls']> {
  const { pem } = certFromField(line.serverCert);
  const o = autoMTLSClientOptions(own, pem);
  return { cert: o.cert, key: o.key, ca: o.ca, servername: o.servername, minVersion: o.minVersion, unixSockets: true };
}

/**
 * The CA check already trusts only the announced certificate's key; the pin wants that
 * very certificate (a go-plugin certificate is a CA: it could sign another).
 */
function checkPinned(connection: { readonly peer: { readonly tls?: { readonly fingerprint256?: string | undefined } | undefined } | undefined; destroy(): void }, line: HandshakeLine, endpoint: string): void {
  const announced = certFromField(line.serverCert).certificate.fingerprint256;
  const got = connection.peer?.tls?.fingerprint256;
  if (got !== announced) {
    connection.destroy();
    throw new CertificateUntrusted(`${endpoint} presented certificate ${got ?? '(none)'}, not the one the plugin announced (${announced})`);
  }
}

function removeDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/** The running process: its output, its exit, and stopping it. */
class PluginChild {
  readonly tail: LineTail;
  readonly exited: Promise<PluginExit>;
  status: PluginExit | undefined;
  connection: { close(options: { drainTimeout?: number }): Promise<void>; destroy(): void } | undefined;
  private spawnError: Error | undefined;
  private firstLine: ((line: string) => void) | undefined;
  private gotLine = false;
  private stderrDone: Promise<void>;
  private stopping: Promise<PluginExit> | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly grace: number,
    stderrLines: number,
    logger: LaunchOptions['logger'],
    socketDir: string | undefined,
  ) {
    this.tail = new LineTail(stderrLines);
    const log = logger ?? (() => {});
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.status = { code, signal };
        removeDir(socketDir);
        resolveExit(this.status);
      });
      child.once('error', (err) => {
        this.spawnError = err;
        // spawn failed: no 'exit' will come.
        if (child.pid === undefined) {
          this.status = { code: null, signal: null };
          removeDir(socketDir);
          resolveExit(this.status);
        }
      });
    });
    child.stdin?.on('error', () => {});
    readLines(child.stdout!, (line) => {
      if (this.gotLine) return log(line, 'stdout');
      this.gotLine = true;
      this.firstLine?.(line);
    });
    this.stderrDone = new Promise((done) =>
      readLines(
        child.stderr!,
        (line) => {
          this.tail.push(line);
          log(line, 'stderr');
        },
        done,
      ),
    );
  }

  /** The first stdout line, or a PluginError: exited, timed out, or could not start. */
  handshakeLine(command: string, timeout: number): Promise<string> {
    return new Promise((resolveLine, reject) => {
      const timer = Number.isFinite(timeout) ? setTimeout(() => reject(new PluginHandshakeTimeout(timeout, this.tail.snapshot())), timeout) : undefined;
      this.firstLine = (line) => {
        clearTimeout(timer);
        if (line.length >= MAX_LINE) reject(new PluginHandshakeInvalid(line, `longer than ${MAX_LINE} characters`));
        else resolveLine(line);
      };
      void this.exited.then(async (status) => {
        clearTimeout(timer);
        if (this.spawnError !== undefined && this.child.pid === undefined) {
          reject(new PluginStartFailed(`cannot start plugin ${JSON.stringify(command)}: ${this.spawnError.message}`, { cause: this.spawnError }));
          return;
        }
        // Its last words may still be in the pipe: wait a moment for stderr to end.
        await Promise.race([this.stderrDone, new Promise((r) => setTimeout(r, 200))]);
        reject(new PluginExited(status.code, status.signal, this.tail.snapshot()));
      });
    });
  }

  /** Graceful first (close the connection, SIGTERM), SIGKILL after the grace period. */
  stop(): Promise<PluginExit> {
    this.stopping ??= (async () => {
      if (this.status !== undefined) return this.status;
      const deadline = Date.now() + this.grace;
      const connection = this.connection;
      if (connection !== undefined) {
        await Promise.race([connection.close({ drainTimeout: Math.min(this.grace, 500) }).catch(() => {}), this.exited, sleep(this.grace)]);
      }
      if (this.status === undefined) this.child.kill('SIGTERM');
      const left = Math.max(0, deadline - Date.now());
      const timer = setTimeout(() => {
        if (this.status === undefined) this.child.kill('SIGKILL');
      }, left);
      const status = await this.exited;
      clearTimeout(timer);
      connection?.destroy();
      return status;
    })();
    return this.stopping;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
