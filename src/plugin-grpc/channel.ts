/**
 * The host's gRPC side of a launched plugin: the channel to the announced address
 * (mutual TLS pinned to the plugin's certificate with AutoMTLS), and the calls to
 * go-plugin's own services: health, controller shutdown, and the plugin's stdio stream.
 */
import type grpc from '@grpc/grpc-js';
import { AUTO_MTLS_SERVER_NAME, type AutoMTLSCert, type HandshakeLine } from '../plugin/index.js';
import { grpcJs } from './grpc-js.js';
import { servingStatusName, StdioChannel, type ServingStatusName } from './pb.js';
import { ControllerService, HealthService, StdioService } from './services.js';

export interface PluginChannel {
  readonly target: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  readonly channel: grpc.Channel;
  /** go-plugin's own services are called through this client (on the shared channel). */
  readonly client: grpc.Client;
}

/** grpc-js target for the line's NETWORK and ADDRESS. */
export function targetOf(line: Pick<HandshakeLine, 'network' | 'address'>): string {
  return line.network === 'unix' ? `unix://${line.address}` : line.address;
}

export function openChannel(line: HandshakeLine, tls: { own: AutoMTLSCert; pluginPem: string; fingerprint: string } | undefined, extra: grpc.ChannelOptions = {}): PluginChannel {
  const { credentials: make, Channel, Client } = grpcJs();
  const target = targetOf(line);
  let credentials: grpc.ChannelCredentials;
  let options: grpc.ChannelOptions = { ...extra };
  if (tls === undefined) credentials = make.createInsecure();
  else {
    credentials = make.createSsl(Buffer.from(tls.pluginPem), Buffer.from(tls.own.keyPem), Buffer.from(tls.own.certPem), {
      // Exactly the certificate the plugin announced, under go-plugin's name.
      checkServerIdentity: (host, cert) =>
        host !== AUTO_MTLS_SERVER_NAME
          ? new Error(`AutoMTLS: expected server name ${AUTO_MTLS_SERVER_NAME}, got ${host}`)
          : cert.fingerprint256 !== tls.fingerprint
            ? new Error(`the plugin presented certificate ${cert.fingerprint256}, not the one it announced (${tls.fingerprint})`)
            : undefined,
    });
    options = { 'grpc.ssl_target_name_override': AUTO_MTLS_SERVER_NAME, 'grpc.default_authority': AUTO_MTLS_SERVER_NAME, ...options };
  }
  const channel = new Channel(target, credentials, options);
  const client = new Client(target, credentials, { ...options, channelOverride: channel });
  return { target, credentials, options, channel, client };
}

function unary<Req, Res>(client: grpc.Client, def: grpc.MethodDefinition<Req, Res>, request: Req, timeout: number): Promise<Res> {
  const { Metadata } = grpcJs();
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      new Metadata(),
      { deadline: Date.now() + timeout, waitForReady: true } as grpc.CallOptions,
      (err, value) => (err ? reject(err) : resolve(value!)),
    );
  });
}

/** grpc.health.v1.Health/Check of `service`; rejects with the gRPC error. */
export async function checkHealth(ch: PluginChannel, service: string, timeout: number): Promise<ServingStatusName> {
  const res = await unary(ch.client, HealthService.check, { service }, timeout);
  return servingStatusName(res.status);
}

/** plugin.GRPCController/Shutdown; rejects with the gRPC error (UNAVAILABLE from a Go plugin, which stops before answering). */
export async function requestShutdown(ch: PluginChannel, timeout: number): Promise<void> {
  await unary(ch.client, ControllerService.shutdown, {}, timeout);
}

/**
 * Subscribes to plugin.GRPCStdio/StreamStdio and hands its data on, line by line (a
 * last partial line at the end). Unimplemented or unavailable is fine: go-plugin hosts
 * tolerate it too. Returns a function that cancels it.
 */
export function followStdio(ch: PluginChannel, log: (line: string, stream: 'stdout' | 'stderr') => void): () => void {
  const def = StdioService.streamStdio;
  const { Metadata } = grpcJs();
  const call = ch.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, {}, new Metadata(), {});
  const pending = { stdout: '', stderr: '' };
  call.on('data', (msg: { channel: number; data: Buffer }) => {
    const stream = msg.channel === StdioChannel.STDERR ? 'stderr' : 'stdout';
    const text = pending[stream] + msg.data.toString('utf8');
    const lines = text.split('\n');
    pending[stream] = lines.pop() ?? '';
    for (const l of lines) log(l.endsWith('\r') ? l.slice(0, -1) : l, stream);
  });
  const flush = (): void => {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (pending[stream] !== '') log(pending[stream], stream);
      pending[stream] = '';
    }
  };
  call.on('error', flush);
  call.on('end', flush);
  return () => call.cancel();
}
