/**
 * The few protobuf messages go-plugin's gRPC services exchange, encoded by hand: a
 * varint/length-delimited field writer and reader, and one encode/decode pair per message.
 * No .proto files to ship and find at run time, no protobuf library to load. Field numbers
 * and types follow go-plugin's internal/plugin/*.proto and grpc's health.proto:
 *
 *   grpc.health.v1.HealthCheckRequest  { string service = 1; }
 *   grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; }  UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
 *   plugin.Empty / google.protobuf.Empty {}
 *   plugin.ConnInfo { uint32 service_id = 1; string network = 2; string address = 3; Knock knock = 4; }
 *   plugin.ConnInfo.Knock { bool knock = 1; bool ack = 2; string error = 3; }
 *   plugin.StdioData { Channel channel = 1; bytes data = 2; }  INVALID 0, STDOUT 1, STDERR 2
 *
 * Also google.protobuf.StringValue { string value = 1; }, the message of the interop
 * tests' Greeter. Unknown fields are skipped, as protobuf readers do.
 */

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Appends fields; proto3 defaults (0, '', false, empty bytes) are left out, as protobuf writers do. */
export class PbWriter {
  private readonly parts: Buffer[] = [];

  private varint(value: number): void {
    const bytes: number[] = [];
    let v = value;
    while (v > 0x7f) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.parts.push(Buffer.from(bytes));
  }

  uint(field: number, value: number): this {
    if (value === 0) return this;
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`field ${field}: ${value} is not an unsigned integer`);
    this.varint((field << 3) | VARINT);
    this.varint(value);
    return this;
  }

  bool(field: number, value: boolean): this {
    return this.uint(field, value ? 1 : 0);
  }

  bytes(field: number, value: Uint8Array): this {
    return value.length === 0 ? this : this.message(field, value);
  }

  /** A length-delimited field written even when empty (a present sub-message). */
  message(field: number, value: Uint8Array): this {
    this.varint((field << 3) | LEN);
    this.varint(value.length);
    this.parts.push(Buffer.from(value.buffer, value.byteOffset, value.length));
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** One field as read: a number for varints, bytes for length-delimited fields. */
export type PbField = { field: number; value: number | Buffer };

/** The fields of a message, in order (fixed-width fields are skipped). Throws on malformed input. */
export function readFields(buf: Uint8Array): PbField[] {
  const data = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const fields: PbField[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= data.length) throw new RangeError('truncated varint');
      const b = data[pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 0x80;
    }
    throw new RangeError('varint too long');
  };
  while (pos < data.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const type = key % 8;
    if (type === VARINT) fields.push({ field, value: varint() });
    else if (type === LEN) {
      const len = varint();
      if (pos + len > data.length) throw new RangeError('truncated field');
      fields.push({ field, value: data.subarray(pos, pos + len) });
      pos += len;
    } else if (type === I64) pos += 8;
    else if (type === I32) pos += 4;
    else throw new RangeError(`unsupported wire type ${type}`);
    if (pos > data.length) throw new RangeError('truncated field');
  }
  return fields;
}

function num(fields: PbField[], n: number): number {
  let out = 0;
  for (const f of fields) if (f.field === n && typeof f.value === 'number') out = f.value;
  return out;
}

function buf(fields: PbField[], n: number): Buffer | undefined {
  let out: Buffer | undefined;
  for (const f of fields) if (f.field === n && typeof f.value !== 'number') out = f.value;
  return out;
}

function str(fields: PbField[], n: number): string {
  return buf(fields, n)?.toString('utf8') ?? '';
}

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
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
  knock?: Knock;
}
/** plugin.StdioData.Channel */
export const StdioChannel = { INVALID: 0, STDOUT: 1, STDERR: 2 } as const;
export interface StdioData {
  channel: number;
  data: Buffer;
}

export const encodeHealthCheckRequest = (m: HealthCheckRequest): Buffer => new PbWriter().string(1, m.service).finish();
export const decodeHealthCheckRequest = (b: Buffer): HealthCheckRequest => ({ service: str(readFields(b), 1) });
export const encodeHealthCheckResponse = (m: HealthCheckResponse): Buffer => new PbWriter().uint(1, m.status).finish();
export const decodeHealthCheckResponse = (b: Buffer): HealthCheckResponse => ({ status: num(readFields(b), 1) });

export const encodeEmpty = (_m: Empty): Buffer => Buffer.alloc(0);
export const decodeEmpty = (b: Buffer): Empty => {
  readFields(b);
  return {};
};

export function encodeConnInfo(m: ConnInfo): Buffer {
  const w = new PbWriter().uint(1, m.serviceId).string(2, m.network).string(3, m.address);
  if (m.knock !== undefined) w.message(4, new PbWriter().bool(1, m.knock.knock).bool(2, m.knock.ack).string(3, m.knock.error).finish());
  return w.finish();
}

export function decodeConnInfo(b: Buffer): ConnInfo {
  const f = readFields(b);
  const k = buf(f, 4);
  const info: ConnInfo = { serviceId: num(f, 1), network: str(f, 2), address: str(f, 3) };
  if (k !== undefined) {
    const kf = readFields(k);
    info.knock = { knock: num(kf, 1) !== 0, ack: num(kf, 2) !== 0, error: str(kf, 3) };
  }
  return info;
}

export const encodeStdioData = (m: StdioData): Buffer => new PbWriter().uint(1, m.channel).bytes(2, m.data).finish();
export function decodeStdioData(b: Buffer): StdioData {
  const f = readFields(b);
  return { channel: num(f, 1), data: buf(f, 2) ?? Buffer.alloc(0) };
}

/** google.protobuf.StringValue, for services whose messages are one string. */
export const encodeStringValue = (value: string): Buffer => new PbWriter().string(1, value).finish();
export const decodeStringValue = (b: Buffer): string => str(readFields(b), 1);
