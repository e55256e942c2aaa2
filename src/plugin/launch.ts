/**
 * The host side: launchPlugin() starts a plugin process with go-plugin's handshake
 * environment, reads its one handshake line, connects with wirecall and hands back the
 * connection with the process (logs, kill, exit status).
 */
import { CertificateUntrusted, InvalidOption } from '../errors.js';
import { connect, type ConnectOptions } from '../rpc/client.js';
import type { Connection } from '../rpc/connection.js';
import type { Contract } from '../rpc/contract.js';
import type { TlsClientOptions } from '../transport/tls-options.js';
import { autoMTLSClientOptions, generateAutoMTLSCert, type AutoMTLSCert } from './auto-mtls.js';
import { certFromField } from './cert-field.js';
import { checkHandshake, endpointOfLine, parseHandshakeLine, type HandshakeLine } from './handshake.js';
import { hostEnvironment } from './host-env.js';
import { MAX_TIMER, checkHostOptions, type HostOptions } from './host-options.js';
import { PluginProcess, type PluginExit } from './plugin-process.js';

export type { PluginExit } from './plugin-process.js';

export interface LaunchOptions<Local = Contract, Remote = Contract> extends HostOptions {
  /** Milliseconds to wait for the handshake line (Infinity: no limit). Default 60 000 (go-plugin's). */
  handshakeTimeout?: number;
  /**
   * go-plugin's AutoMTLS: make an ephemeral client certificate, pass it in
   * PLUGIN_CLIENT_CERT, require the plugin's certificate in SERVER-CERT, and connect with
   * mutual TLS trusting exactly that certificate (over a Unix socket too). Needs the
   * optional peer dependencies @peculiar/x509 and reflect-metadata. Default false.
   */
  autoMTLS?: boolean;
  /**
   * Gets the plugin's stderr lines (from the start) and its stdout lines after the
   * handshake line, one call per line. Default: dropped (the last ones are in stderrTail()).
   */
  logger?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** kill(): milliseconds between the graceful request (close, SIGTERM) and SIGKILL. Default 2000. */
  killGracePeriod?: number;
  /** Options for the wirecall connection (name, token, handlers, timeouts …). */
  connect?: ConnectOptions<Local, Remote>;
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

/** Starts `command args…` as a plugin and connects to it. Rejects with a PluginError (the process stopped). */
export async function launchPlugin<Remote = Contract, Local = Contract>(
  command: string,
  args: readonly string[] = [],
  options: LaunchOptions<NoInfer<Local>, NoInfer<Remote>> = {},
): Promise<LaunchedPlugin<Remote, Local>> {
  const cfg = resolve(options);
  const hostCert = options.autoMTLS === true ? await generateAutoMTLSCert() : undefined;
  const { env, socketDir } = hostEnvironment(options, cfg, hostCert?.certPem);
  const proc = new PluginProcess(command, args, options, { env, socketDir, stderrLines: cfg.stderrLines });

  let connection: Connection<Remote, Local> | undefined;
  let stopping: Promise<PluginExit> | undefined;
  const kill = (): Promise<PluginExit> => (stopping ??= stop(proc, connection, cfg.grace));
  let line: HandshakeLine;
  let tls: LaunchedPlugin['tls'];
  try {
    line = parseHandshakeLine(await proc.handshakeLine(cfg.timeout));
    checkHandshake(line, cfg.versions, undefined, { autoMTLS: hostCert !== undefined });
    tls = hostCert === undefined ? undefined : clientTlsFor(hostCert, line);
  } catch (err) {
    await kill();
    throw err;
  }
  const endpoint = tls !== undefined && line.network === 'tcp' ? `tls://${line.address}` : endpointOfLine(line);
  let connected: Connection<Remote, Local>;
  try {
    connected = await connect<Remote, Local>(endpoint, { ...options.connect, ...(tls === undefined ? {} : { tls }) });
    if (tls !== undefined) checkPinned(connected, line, endpoint);
  } catch (err) {
    await kill();
    throw err;
  }
  connection = connected;
  return {
    connection: connected,
    endpoint,
    tls,
    handshake: line,
    pid: proc.pid,
    exited: proc.exited,
    get exitStatus() {
      return proc.status;
    },
    kill,
    stderrTail: () => proc.tail.snapshot(),
  };
}

function resolve(options: LaunchOptions<never, never>) {
  const shared = checkHostOptions(options);
  const timeout = options.handshakeTimeout ?? DEFAULT_TIMEOUT;
  const grace = options.killGracePeriod ?? DEFAULT_GRACE;
  if (!(timeout > 0) || (Number.isFinite(timeout) && timeout > MAX_TIMER)) {
    throw new InvalidOption(`handshakeTimeout must be a positive number of ms up to ${MAX_TIMER}, or Infinity; got ${String(timeout)}`);
  }
  if (grace > MAX_TIMER) throw new InvalidOption(`killGracePeriod must be at most ${MAX_TIMER} ms, got ${grace}`);
  if (!(grace >= 0) || !Number.isFinite(grace)) throw new InvalidOption(`killGracePeriod must be a finite number of ms ≥ 0, got ${String(grace)}`);
  return { ...shared, timeout, grace };
}

/** Graceful first (close the connection, then SIGTERM), SIGKILL once the grace period is over. */
async function stop(proc: PluginProcess, connection: { close(options: { drainTimeout?: number }): Promise<void>; destroy(): void } | undefined, grace: number): Promise<PluginExit> {
  if (proc.status !== undefined) return proc.status;
  const deadline = Date.now() + grace;
  if (connection !== undefined) {
    await Promise.race([connection.close({ drainTimeout: Math.min(grace, 500) }).catch(() => {}), proc.exitsWithin(grace)]);
  }
  await proc.terminate(Math.max(0, deadline - Date.now()));
  connection?.destroy();
  return proc.exited;
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
