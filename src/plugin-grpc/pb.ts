/**
 * go-plugin's protobuf messages, encoded and decoded by protobufjs (an optional peer
 * dependency) from the JSON descriptors of protos.ts. protobufjs is loaded on first
 * use, with require() (no top-level await: the module graph stays loadable by require()),
 * and only its light build: descriptors need no .proto parser. serveGrpcPlugin() and
 * launchGrpcPlugin() call loadProtobuf() first (through loadPeerDependencies(), grpc-js.ts,
 * which loads @grpc/grpc-js the same way), so a missing package is a GrpcPluginUnavailable
 * before anything starts rather than a failed call.
 *
 * With protobufjs ^8.2 the bytes are Go's: fields at their zero value (0, '', false, empty
 * bytes) are left out, a present sub-message is written even when empty. (7.x, which
 * @grpc/proto-loader still brings, also writes the zero values it is given: every reader
 * accepts that.) Decoding fills in the zero values (`defaults`); an absent sub-message is
 * null; enums are numbers, bytes Buffers; unknown fields are skipped.
 */
import { createRequire } from 'node:module';
import type { INamespace, Root, Type } from 'protobufjs/light.js';
import { peersUnavailable } from './errors.js';
import { GO_PLUGIN_PROTOS, ServingStatus, StdioChannel } from './protos.js';

export { ServingStatus, StdioChannel };
export type ServingStatusName = keyof typeof ServingStatus;

export function servingStatusName(value: number): ServingStatusName {
  const found = (Object.keys(ServingStatus) as ServingStatusName[]).find((k) => ServingStatus[k] === value);
  return found ?? 'UNKNOWN';
}

export interface HealthCheckRequest {
  service: string;
}
export interface HealthCheckResponse {
  status: number;
}
export type Empty = Record<string, never>;
export interface Knock {
  knock: boolean;
  ack: boolean;
  error: string;
}
export interface ConnInfo {
  serviceId: number;
  network: string;
  address: string;
  /** Decoded: null when absent. */
  knock?: Knock | null;
}
export interface StdioData {
  channel: number;
  data: Buffer;
}

type Protobuf = typeof import('protobufjs/light.js');
let root: Root | undefined;

/**
 * Loads protobufjs and the descriptors once; throws GrpcPluginUnavailable when it is
 * missing (a failed load is tried again next time). Returns nothing: a protobufjs type in
 * the shipped .d.ts would make TypeScript users without it fail to compile.
 */
export function loadProtobuf(): void {
  loadRoot();
}

function loadRoot(): Root {
  if (root !== undefined) return root;
  let pb: Protobuf;
  try {
    pb = createRequire(import.meta.url)('protobufjs/light.js') as Protobuf;
  } catch (err) {
    throw peersUnavailable(['protobufjs'], [err]);
  }
  root = pb.Root.fromJSON(GO_PLUGIN_PROTOS as INamespace);
  root.resolveAll();
  return root;
}

export interface Codec<T> {
  encode(message: T): Buffer;
  decode(bytes: Uint8Array): T;
}

const TO_OBJECT = { defaults: true } as const;

function codec<T>(name: string): Codec<T> {
  let type: Type | undefined;
  const t = (): Type => (type ??= loadRoot().lookupType(name));
  return {
    encode(message) {
      const out = t().encode(t().fromObject(message as object)).finish();
      return Buffer.isBuffer(out) ? out : Buffer.from(out.buffer, out.byteOffset, out.length);
    },
    decode: (bytes) => t().toObject(t().decode(bytes), TO_OBJECT) as T,
  };
}

export const HealthCheckRequestCodec = codec<HealthCheckRequest>('grpc.health.v1.HealthCheckRequest');
export const HealthCheckResponseCodec = codec<HealthCheckResponse>('grpc.health.v1.HealthCheckResponse');
export const EmptyCodec = codec<Empty>('plugin.Empty');
export const ProtobufEmptyCodec = codec<Empty>('google.protobuf.Empty');
export const ConnInfoCodec = codec<ConnInfo>('plugin.ConnInfo');
export const StdioDataCodec = codec<StdioData>('plugin.StdioData');
const StringValueCodec = codec<{ value: string }>('google.protobuf.StringValue');

/** google.protobuf.StringValue, for services whose messages are one string (the interop tests' Greeter). */
export const encodeStringValue = (value: string): Buffer => StringValueCodec.encode({ value });
export const decodeStringValue = (bytes: Uint8Array): string => StringValueCodec.decode(bytes).value;
