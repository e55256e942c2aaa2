/**
 * The gRPC baseline: @grpc/grpc-js with a hand-written service definition whose
 * serializers are the identity on Buffers. No .proto, no protobuf encoding: the bytes
 * we pass are the message, so the comparison is transport against transport (HTTP/2 +
 * gRPC framing vs wirecall's length prefix + MessagePack envelope).
 */
import * as grpc from '@grpc/grpc-js';
import { tempSocketPath, type TransportKind } from './lib/sockets.js';
import type { RunningServer } from './servers.js';

export const ECHO_PATH = '/wirecall.bench.Bench/Echo';

const identity = (b: Buffer): Buffer => b;

const benchService: grpc.ServiceDefinition = {
  Echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: 'echo',
  },
};

/** 64 MiB both ways, so no payload size in the suite hits grpc-js' 4 MiB default. */
const MESSAGE_LIMITS = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
};

export async function startGrpcServer(transport: TransportKind): Promise<RunningServer> {
  const server = new grpc.Server(MESSAGE_LIMITS);
  const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => callback(null, call.request);
  server.addService(benchService, { Echo: echo });
  return bindGrpcServer(server, transport);
}

export interface GrpcEchoClient {
  call(payload: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * One client on its own HTTP/2 connection: grpc-js would otherwise share one connection
 * (subchannel) between all clients of the same target, which would make "32 clients"
 * mean one socket.
 */
export async function openGrpcClient(target: string): Promise<GrpcEchoClient> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
    ...MESSAGE_LIMITS,
    'grpc.use_local_subchannel_pool': 1,
  });
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())),
  );
  return {
    call: (payload) =>
      new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(ECHO_PATH, identity, identity, payload, (err, value) => {
          if (err) reject(err);
          else resolve(value!);
        });
      }),
    close: async () => client.close(),
  };
}

/** Bind a grpc-js server on a fresh Unix socket or a free loopback port; close() is bounded (1 s, then forced). */
export async function bindGrpcServer(server: grpc.Server, transport: TransportKind): Promise<RunningServer> {
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
