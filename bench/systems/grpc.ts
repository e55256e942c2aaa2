/**
 * grpc-js in the spec suite: a hand-written service definition (no .proto) whose
 * serializers are msgpackr, so both sides encode the same values as wirecall does.
 * `Echo` is unary; `Small` and `Chunks` are server-streaming (`{ count }` in, `count`
 * messages out, written with backpressure: `write()` returning false waits for 'drain').
 *
 * Options: grpc-js defaults, plus 64 MiB message limits and a local subchannel pool
 * (each client gets its own HTTP/2 connection), as in bench/grpc.ts.
 */
import * as grpc from '@grpc/grpc-js';
import { Packr, Unpackr } from 'msgpackr';
import { bindGrpcServer } from '../grpc.js';
import type { TransportKind } from '../lib/sockets.js';
import { CHUNK, PARAMS, smallMessage, type StreamKind, type SystemClient, type SystemServer } from './common.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
// grpc-js copies the serialized bytes into its own frame at once, so msgpackr's shared
// output buffer may be handed over as is.
const serialize = (value: unknown): Buffer => packr.pack(value);
const deserialize = (bytes: Buffer): unknown => unpackr.unpack(bytes);

const PATHS = {
  Echo: '/wirecall.bench.Spec/Echo',
  Small: '/wirecall.bench.Spec/Small',
  Chunks: '/wirecall.bench.Spec/Chunks',
} as const;

function method(path: string, responseStream: boolean): grpc.MethodDefinition<unknown, unknown> {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
  };
}

const service: grpc.ServiceDefinition = {
  Echo: method(PATHS.Echo, false),
  Small: method(PATHS.Small, true),
  Chunks: method(PATHS.Chunks, true),
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

export async function startGrpcSpecServer(transport: TransportKind): Promise<SystemServer> {
  const server = new grpc.Server(OPTIONS);
  server.addService(service, {
    Echo: ((call, callback) => callback(null, call.request)) as grpc.handleUnaryCall<unknown, unknown>,
    Small: streamHandler('small'),
    Chunks: streamHandler('chunks'),
  });
  return bindGrpcServer(server, transport);
}

export async function openGrpcSpecClient(target: string): Promise<SystemClient> {
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
    close: async () => client.close(),
  };
}
