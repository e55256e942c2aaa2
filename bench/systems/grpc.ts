/**
 * grpc-js: @grpc/grpc-js with a hand-written service definition (no .proto).
 *
 * - For the spec suite the serializers are msgpackr, so both sides encode the same values
 *   as wirecall does. `Echo` is unary; `Small` and `Chunks` are server-streaming (`{ count }`
 *   in, `count` messages out, written with backpressure: `write()` returning false waits
 *   for 'drain').
 * - For the extra groups `EchoBytes` has identity serializers on Buffers: the bytes passed
 *   are the message, so those rows compare transport against transport (HTTP/2 + gRPC
 *   framing vs wirecall's length prefix + MessagePack envelope).
 *
 * Options: grpc-js defaults, plus 64 MiB message limits both ways (no payload of the
 * suite hits grpc-js' 4 MiB default) and a local subchannel pool on every client.
 */
import * as grpc from '@grpc/grpc-js';
import { Packr, Unpackr } from 'msgpackr';
import { tempSocketPath, type TransportKind } from '../lib/sockets.js';
import { CHUNK, PARAMS, smallMessage, type StreamKind, type SystemClient, type SystemServer } from './common.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
// grpc-js copies the serialized bytes into its own frame at once, so msgpackr's shared
// output buffer may be handed over as is.
const serialize = (value: unknown): Buffer => packr.pack(value);
const deserialize = (bytes: Buffer): unknown => unpackr.unpack(bytes);
const identity = (bytes: Buffer): Buffer => bytes;

const PATHS = {
  Echo: '/wirecall.bench.Spec/Echo',
  Small: '/wirecall.bench.Spec/Small',
  Chunks: '/wirecall.bench.Spec/Chunks',
  EchoBytes: '/wirecall.bench.Spec/EchoBytes',
} as const;

function method<T>(path: string, responseStream: boolean, encode: (value: T) => Buffer, decode: (bytes: Buffer) => T): grpc.MethodDefinition<T, T> {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: encode,
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: decode,
  };
}

const service: grpc.ServiceDefinition = {
  Echo: method(PATHS.Echo, false, serialize, deserialize),
  Small: method(PATHS.Small, true, serialize, deserialize),
  Chunks: method(PATHS.Chunks, true, serialize, deserialize),
  EchoBytes: method(PATHS.EchoBytes, false, identity, identity),
};

const OPTIONS = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
};

function streamHandler(kind: StreamKind): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const count = (call.request as { count: number }).count;
    let seq = 0;
    const pump = (): void => {
      while (seq < count) {
        const ok = call.write(kind === 'small' ? smallMessage(seq) : CHUNK);
        seq++;
        if (!ok) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    call.on('error', () => {});
    pump();
  };
}

const echo: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => callback(null, call.request);

export async function startGrpcServer(transport: TransportKind): Promise<SystemServer> {
  const server = new grpc.Server(OPTIONS);
  server.addService(service, { Echo: echo, Small: streamHandler('small'), Chunks: streamHandler('chunks'), EchoBytes: echo });
  return bind(server, transport);
}

/** Bind on a fresh Unix socket or a free loopback port; close() is bounded (1 s, then forced). */
async function bind(server: grpc.Server, transport: TransportKind): Promise<SystemServer> {
  const sock = transport === 'unix' ? await tempSocketPath() : undefined;
  const address = sock ? `unix:${sock.path}` : '127.0.0.1:0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    endpoint: sock ? address : `127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await sock?.cleanup();
    },
  };
}

/**
 * One client on its own HTTP/2 connection: grpc-js would otherwise share one connection
 * (subchannel) between all clients of the same target, which would make "32 clients"
 * mean one socket.
 */
export async function openGrpcClient(target: string): Promise<SystemClient & { echoBytes(payload: Buffer): Promise<Buffer> }> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), { ...OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
  await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));
  return {
    unary: () =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest(PATHS.Echo, serialize, deserialize, PARAMS, (err, value) => (err ? reject(err) : resolve(value)));
      }),
    stream: (kind, count) =>
      new Promise<number>((resolve, reject) => {
        const call = client.makeServerStreamRequest(kind === 'small' ? PATHS.Small : PATHS.Chunks, serialize, deserialize, { count });
        let n = 0;
        call.on('data', () => {
          n++;
        });
        call.on('error', reject);
        call.on('end', () => resolve(n));
      }),
    echoBytes: (payload) =>
      new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(PATHS.EchoBytes, identity, identity, payload, (err, value) => (err ? reject(err) : resolve(value!)));
      }),
    close: async () => client.close(),
  };
}
