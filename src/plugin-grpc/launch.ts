/**
 * The host side on PROTOCOL `grpc`: launchGrpcPlugin() starts a go-plugin plugin (Go,
 * Python on pyvider-rpcplugin, or serveGrpcPlugin) with the handshake environment, reads
 * its line, connects a grpc-js channel (Unix or TCP; mutual TLS with AutoMTLS), checks
 * health service "plugin", and hands back the channel for the plugin's own services. kill()
 * asks GRPCController/Shutdown, then escalates to SIGTERM and SIGKILL.
 */
import type grpc from '@grpc/grpc-js';
import { InvalidOption } from '../errors.js';
import { errorMessage } from '../util/error-message.js';
import {
  CORE_PROTOCOL_VERSION,
  PluginProtocolMismatch,
  PluginVersionMismatch,
  certFromField,
  generateAutoMTLSCert,
  parseHandshakeLine,
  type AutoMTLSCert,
  type HandshakeLine,
} from '../plugin/index.js';
import { hostEnvironment } from '../plugin/host-env.js';
import { MAX_TIMER, checkHostOptions, type HostOptions } from '../plugin/host-options.js';
import { PluginProcess, type PluginExit } from '../plugin/plugin-process.js';
import { checkHealth, followStdio, openChannel, requestShutdown, type PluginChannel } from './channel.js';
import { GRPC_PROTOCOL } from './constants.js';
import { GrpcPluginUnhealthy } from './errors.js';
import { loadPeerDependencies } from './grpc-js.js';
import type { ServingStatusName } from './pb.js';
import { GO_PLUGIN_HEALTH_SERVICE } from './services.js';

/** How the process ended: an exit code, or the signal that ended it. */
export type GrpcPluginExit = PluginExit;

export interface LaunchGrpcPluginOptions extends HostOptions {
  /** Milliseconds to wait for the handshake line. Default 60 000 (go-plugin's). */
  handshakeTimeout?: number;
  /** Milliseconds for the first health check (connecting included). Default 10 000. */
  healthTimeout?: number;
  /**
   * The plugin's stderr lines, stdout lines after the handshake line, and what it sends
   * on its GRPCStdio stream (a Go plugin's fmt.Print…), one call per line. Default: dropped.
   */
  logger?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** kill(): milliseconds to wait for the exit after GRPCController/Shutdown before SIGTERM (then as long again before SIGKILL). Default 2000 (go-plugin's). */
  killGracePeriod?: number;
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
  loadPeerDependencies(); // GrpcPluginUnavailable now, before anything is started
  const own = options.autoMTLS === true ? await generateAutoMTLSCert() : undefined;
  const { env, socketDir } = hostEnvironment(options, cfg, own?.certPem);
  const proc = new PluginProcess(command, args, options, { env, socketDir, stderrLines: cfg.stderrLines });

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
  return proc.terminate(grace);
}

function resolve(options: LaunchGrpcPluginOptions) {
  const shared = checkHostOptions(options);
  const timeout = options.handshakeTimeout ?? 60_000;
  const healthTimeout = options.healthTimeout ?? 10_000;
  const grace = options.killGracePeriod ?? 2_000;
  for (const [name, v] of [['handshakeTimeout', timeout], ['healthTimeout', healthTimeout]] as const) {
    if (!(v > 0) || v > MAX_TIMER) throw new InvalidOption(`${name} must be a positive number of ms up to ${MAX_TIMER}, got ${String(v)}`);
  }
  if (!(grace >= 0) || grace > MAX_TIMER) throw new InvalidOption(`killGracePeriod must be a number of ms in 0–${MAX_TIMER}, got ${String(grace)}`);
  return { ...shared, timeout, healthTimeout, grace };
}
