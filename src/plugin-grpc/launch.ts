/**
 * The host side on PROTOCOL `grpc`: launchGrpcPlugin() starts a go-plugin plugin (Go,
 * Python on pyvider-rpcplugin, or serveGrpcPlugin) with the handshake environment, reads
 * its line, connects a grpc-js channel (Unix or TCP; mutual TLS with AutoMTLS), checks
 * health service "plugin", and hands back the channel for the plugin's own services. kill()
 * asks GRPCController/Shutdown, then escalates to SIGTERM and SIGKILL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type grpc from '@grpc/grpc-js';
import { InvalidOption } from '../errors.js';
import { errorMessage } from '../util/error-message.js';
import {
  CORE_PROTOCOL_VERSION,
  DEFAULT_HANDSHAKE,
  PluginProtocolMismatch,
  PluginStartFailed,
  PluginVersionMismatch,
  certFromField,
  generateAutoMTLSCert,
  parseHandshakeLine,
  type AutoMTLSCert,
  type HandshakeConfig,
  type HandshakeLine,
} from '../plugin/index.js';
import {
  ENV_CLIENT_CERT,
  ENV_MAX_PORT,
  ENV_MIN_PORT,
  ENV_PROTOCOL_VERSIONS,
  ENV_UNIX_SOCKET_DIR,
  ENV_UNIX_SOCKET_GROUP,
  ENV_WATCH_STDIN,
  checkPortRange,
  checkVersions,
} from '../plugin/handshake.js';
import { setGroupWritable } from '../plugin/socket-group.js';
import { checkHealth, followStdio, openChannel, requestShutdown, type PluginChannel } from './channel.js';
import { PluginProcess, type GrpcPluginExit } from './child.js';
import { GRPC_PROTOCOL } from './constants.js';
import { GrpcPluginUnhealthy } from './errors.js';
import { loadProtobuf, type ServingStatusName } from './pb.js';
import { GO_PLUGIN_HEALTH_SERVICE } from './services.js';

export interface LaunchGrpcPluginOptions {
  /** The magic cookie: the plugin's HandshakeConfig. Default DEFAULT_HANDSHAKE (wirecall's). */
  handshake?: HandshakeConfig;
  /** App protocol versions this host speaks (PLUGIN_PROTOCOL_VERSIONS). Default [1]. */
  protocolVersions?: readonly number[];
  /** go-plugin's AutoMTLS: a one-time certificate each way, the plugin's pinned. Default false. */
  autoMTLS?: boolean;
  /** Milliseconds to wait for the handshake line. Default 60 000 (go-plugin's). */
  handshakeTimeout?: number;
  /** Milliseconds for the first health check (connecting included). Default 10 000. */
  healthTimeout?: number;
  /** PLUGIN_MIN_PORT / PLUGIN_MAX_PORT. Default 10000–25000 (go-plugin's). */
  minPort?: number;
  maxPort?: number;
  /** Where the private PLUGIN_UNIX_SOCKET_DIR is made. Default os.tmpdir(). */
  unixSocketTempDir?: string;
  /**
   * PLUGIN_UNIX_SOCKET_GROUP: the group (name or gid) the plugin gives its socket to,
   * for a plugin running as another user; the socket directory is made 0770 and that
   * group's too. This process must be a member. An unknown group: InvalidOption.
   */
  unixSocketGroup?: string;
  /** Base environment (default process.env); the handshake variables are set on top. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * The plugin's stderr lines, stdout lines after the handshake line, and what it sends
   * on its GRPCStdio stream (a Go plugin's fmt.Print…), one call per line. Default: dropped.
   */
  logger?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** kill(): milliseconds to wait for the exit after GRPCController/Shutdown before SIGTERM (then as long again before SIGKILL). Default 2000 (go-plugin's). */
  killGracePeriod?: number;
  /** Stderr lines kept for errors and stderrTail(). Default 20. */
  stderrLines?: number;
  /** SIGTERM the plugin when this process exits while it runs. Default true. */
  killOnExit?: boolean;
  /** grpc-js channel options (message sizes, keepalive …). */
  channelOptions?: grpc.ChannelOptions;
}

/** How kill() ended the plugin: the exit, and what it took. */
export interface GrpcPluginKill extends GrpcPluginExit {
  /** `controller`: it exited after GRPCController/Shutdown (graceful); else the signal it took, or `exited` if it had already. */
  via: 'controller' | 'SIGTERM' | 'SIGKILL' | 'exited';
}

export interface LaunchedGrpcPlugin {
  /** grpc-js target of the plugin: `unix:///…/plugin123` or `127.0.0.1:10000`. */
  readonly target: string;
  /** The one channel to the plugin; client() shares it. */
  readonly channel: grpc.Channel;
  readonly credentials: grpc.ChannelCredentials;
  /** The parsed handshake line; `appVersion` is the negotiated version. */
  readonly handshake: HandshakeLine;
  /** AutoMTLS is on. */
  readonly tls: boolean;
  readonly pid: number;
  /** A client of the plugin's own service (a generated or proto-loader constructor) on the shared channel. */
  client<C>(Ctor: new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => C): C;
  /** grpc.health.v1.Health/Check (default service "plugin"). Rejects with the gRPC error. */
  health(service?: string, timeout?: number): Promise<ServingStatusName>;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<GrpcPluginExit>;
  readonly exitStatus: GrpcPluginExit | undefined;
  /** GRPCController/Shutdown, then SIGTERM and SIGKILL each after killGracePeriod; closes the channel. Idempotent. */
  kill(): Promise<GrpcPluginKill>;
  stderrTail(): string[];
}

/** Starts `command args…` as a go-plugin gRPC plugin, connects and checks its health. Rejects with a PluginError (the process stopped). */
export async function launchGrpcPlugin(command: string, args: readonly string[] = [], options: LaunchGrpcPluginOptions = {}): Promise<LaunchedGrpcPlugin> {
  const cfg = resolve(options);
  loadProtobuf(); // GrpcPluginUnavailable now rather than failed calls later
  const own = options.autoMTLS === true ? await generateAutoMTLSCert() : undefined;
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
    ...(own === undefined ? {} : { [ENV_CLIENT_CERT]: own.certPem }),
  };
  const proc = new PluginProcess(command, args, {
    env,
    stderrLines: cfg.stderrLines,
    killOnExit: options.killOnExit !== false,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    ...(socketDir === undefined ? {} : { socketDir }),
  });
  let ch: PluginChannel | undefined;
  let stopStdio = (): void => {};
  let stopping: Promise<GrpcPluginKill> | undefined;
  const kill = (): Promise<GrpcPluginKill> => {
    stopping ??= stop(proc, ch, cfg.grace).finally(() => {
      stopStdio();
      ch?.client.close();
      ch?.channel.close();
    });
    return stopping;
  };

  let line: HandshakeLine;
  try {
    line = parseHandshakeLine(await proc.handshakeLine(cfg.timeout));
    ch = openChannel(line, checkLine(line, cfg.versions, own), options.channelOptions);
  } catch (err) {
    await kill();
    throw err;
  }
  const channel = ch;
  const health = (service = GO_PLUGIN_HEALTH_SERVICE, timeout = cfg.healthTimeout): Promise<ServingStatusName> => checkHealth(channel, service, timeout);
  try {
    const status = await health();
    if (status !== 'SERVING') throw new GrpcPluginUnhealthy(`the plugin's health service "plugin" answered ${status}`, status, proc.tail.snapshot());
  } catch (err) {
    await kill();
    if (err instanceof GrpcPluginUnhealthy) throw err;
    throw new GrpcPluginUnhealthy(`the plugin's health check failed: ${errorMessage(err)}`, undefined, proc.tail.snapshot(), { cause: err });
  }
  if (options.logger !== undefined) stopStdio = followStdio(channel, options.logger);
  return {
    target: channel.target,
    channel: channel.channel,
    credentials: channel.credentials,
    handshake: line,
    tls: own !== undefined,
    pid: proc.pid,
    client: (Ctor) => new Ctor(channel.target, channel.credentials, { ...channel.options, channelOverride: channel.channel }),
    health,
    exited: proc.exited,
    get exitStatus() {
      return proc.status;
    },
    kill,
    stderrTail: () => proc.tail.snapshot(),
  };
}

/** go-plugin's checks of the line, for gRPC; the plugin's certificate when AutoMTLS is on. */
function checkLine(line: HandshakeLine, offered: readonly number[], own: AutoMTLSCert | undefined) {
  if (line.coreVersion !== CORE_PROTOCOL_VERSION) throw new PluginVersionMismatch('core', line.coreVersion, [CORE_PROTOCOL_VERSION]);
  if (!offered.includes(line.appVersion)) throw new PluginVersionMismatch('app', line.appVersion, offered);
  if (line.protocol !== GRPC_PROTOCOL) throw new PluginProtocolMismatch(`the plugin speaks protocol ${JSON.stringify(line.protocol)}; launchGrpcPlugin speaks grpc`);
  if (line.multiplex) throw new PluginProtocolMismatch('the plugin turned on gRPC broker multiplexing, which launchGrpcPlugin does not ask for or speak');
  if (own === undefined) {
    if (line.serverCert !== '') throw new PluginProtocolMismatch('the plugin announced a TLS certificate, but AutoMTLS is off (set autoMTLS: true)');
    return undefined;
  }
  if (line.serverCert === '') throw new PluginProtocolMismatch('AutoMTLS is on, but the plugin announced no certificate (it ignored PLUGIN_CLIENT_CERT)');
  const cert = certFromField(line.serverCert, line.serverCert);
  return { own, pluginPem: cert.pem, fingerprint: cert.certificate.fingerprint256 };
}

/** GRPCController/Shutdown (its answer does not matter: a Go plugin stops before answering), then SIGTERM, then SIGKILL. */
async function stop(proc: PluginProcess, ch: PluginChannel | undefined, grace: number): Promise<GrpcPluginKill> {
  if (proc.status !== undefined) return { ...proc.status, via: 'exited' };
  if (ch !== undefined) {
    void requestShutdown(ch, Math.max(grace, 1)).catch(() => {});
    if (await proc.exitsWithin(grace)) return { ...(await proc.exited), via: 'controller' };
  }
  proc.signal('SIGTERM');
  if (await proc.exitsWithin(grace)) return { ...(await proc.exited), via: 'SIGTERM' };
  proc.signal('SIGKILL');
  return { ...(await proc.exited), via: 'SIGKILL' };
}

const MAX_TIMER = 2_147_483_647;

function resolve(options: LaunchGrpcPluginOptions) {
  const versions = checkVersions(options.protocolVersions ?? [1], 'protocolVersions');
  const minPort = options.minPort ?? 10_000;
  const maxPort = options.maxPort ?? 25_000;
  checkPortRange(minPort, maxPort);
  const timeout = options.handshakeTimeout ?? 60_000;
  const healthTimeout = options.healthTimeout ?? 10_000;
  const grace = options.killGracePeriod ?? 2_000;
  const stderrLines = options.stderrLines ?? 20;
  for (const [name, v] of [['handshakeTimeout', timeout], ['healthTimeout', healthTimeout]] as const) {
    if (!(v > 0) || v > MAX_TIMER) throw new InvalidOption(`${name} must be a positive number of ms up to ${MAX_TIMER}, got ${String(v)}`);
  }
  if (!(grace >= 0) || grace > MAX_TIMER) throw new InvalidOption(`killGracePeriod must be a number of ms in 0–${MAX_TIMER}, got ${String(grace)}`);
  if (!Number.isInteger(stderrLines) || stderrLines < 0) throw new InvalidOption(`stderrLines must be an integer ≥ 0, got ${String(stderrLines)}`);
  const handshake = options.handshake ?? DEFAULT_HANDSHAKE;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(handshake.magicCookieKey)) {
    throw new InvalidOption(`magicCookieKey must be an environment variable name, got ${JSON.stringify(handshake.magicCookieKey)}`);
  }
  return { versions, minPort, maxPort, timeout, healthTimeout, grace, stderrLines, handshake };
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
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return dir;
}
