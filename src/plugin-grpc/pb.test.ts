/**
 * go-plugin's messages as protobufjs encodes them (protos.ts, pb.ts): byte for byte what Go
 * writes (the vectors are protoc-go's encoding of the same values); protobufjs missing is
 * a GrpcPluginUnavailable; and nothing outside this adapter loads grpc-js or protobufjs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildIfStale } from '../test-util/build.js';
import { hidingPackages, runModule } from '../test-util/node-hooks.js';
import {
  ConnInfoCodec,
  EmptyCodec,
  HealthCheckRequestCodec,
  HealthCheckResponseCodec,
  ProtobufEmptyCodec,
  ServingStatus,
  StdioChannel,
  StdioDataCodec,
  decodeStringValue,
  encodeStringValue,
  servingStatusName,
} from './pb.js';

const hex = (b: Buffer): string => b.toString('hex');
const bytes = (h: string): Buffer => Buffer.from(h, 'hex');

describe('go-plugin and grpc health messages, encoded by protobufjs as Go encodes them', () => {
  it('HealthCheckRequest / HealthCheckResponse', () => {
    expect(hex(HealthCheckRequestCodec.encode({ service: 'plugin' }))).toBe('0a06706c7567696e');
    expect(HealthCheckRequestCodec.decode(bytes('0a06706c7567696e'))).toEqual({ service: 'plugin' });
    expect(hex(HealthCheckRequestCodec.encode({ service: '' }))).toBe(''); // proto3: zero values are left out
    expect(HealthCheckRequestCodec.decode(Buffer.alloc(0))).toEqual({ service: '' });
    expect(hex(HealthCheckResponseCodec.encode({ status: ServingStatus.SERVING }))).toBe('0801');
    expect(hex(HealthCheckResponseCodec.encode({ status: ServingStatus.UNKNOWN }))).toBe('');
    expect(HealthCheckResponseCodec.decode(bytes('0802'))).toEqual({ status: 2 });
    expect(HealthCheckResponseCodec.decode(bytes('0803'))).toEqual({ status: ServingStatus.SERVICE_UNKNOWN });
    expect(HealthCheckResponseCodec.decode(Buffer.alloc(0))).toEqual({ status: 0 });
    expect(servingStatusName(1)).toBe('SERVING');
    expect(servingStatusName(99)).toBe('UNKNOWN');
  });

  it('plugin.Empty and google.protobuf.Empty', () => {
    expect(hex(EmptyCodec.encode({}))).toBe('');
    expect(hex(ProtobufEmptyCodec.encode({}))).toBe('');
    expect(EmptyCodec.decode(Buffer.alloc(0))).toEqual({});
  });

  it('ConnInfo with its Knock sub-message (written even when empty)', () => {
    const info = { serviceId: 300, network: 'unix', address: '/tmp/s', knock: { knock: true, ack: false, error: 'no' } };
    const encoded = ConnInfoCodec.encode(info);
    expect(hex(encoded)).toBe(`08ac02` + `1204756e6978` + `1a062f746d702f73` + `2206` + `0801` + `1a026e6f`);
    expect(ConnInfoCodec.decode(encoded)).toEqual(info);
    const empty = { serviceId: 0, network: '', address: '', knock: { knock: false, ack: false, error: '' } };
    expect(hex(ConnInfoCodec.encode(empty))).toBe('2200');
    expect(ConnInfoCodec.decode(bytes('2200'))).toEqual(empty);
    expect(hex(ConnInfoCodec.encode({ serviceId: 0, network: '', address: '' }))).toBe('');
    expect(ConnInfoCodec.decode(Buffer.alloc(0))).toEqual({ serviceId: 0, network: '', address: '', knock: null });
  });

  it('StdioData and StringValue', () => {
    const data = { channel: StdioChannel.STDERR, data: Buffer.from('hi\n') };
    const encoded = StdioDataCodec.encode(data);
    expect(Buffer.isBuffer(encoded)).toBe(true); // what grpc-js wants from a serializer
    expect(hex(encoded)).toBe('0802120368690a');
    const decoded = StdioDataCodec.decode(encoded);
    expect(decoded).toEqual(data);
    expect(Buffer.isBuffer(decoded.data)).toBe(true);
    expect(StdioDataCodec.decode(Buffer.alloc(0))).toEqual({ channel: 0, data: Buffer.alloc(0) });
    expect(hex(encodeStringValue('é'))).toBe('0a02c3a9');
    expect(decodeStringValue(bytes('0a02c3a9'))).toBe('é');
  });

  it('skips unknown fields of every wire type, refuses truncated input', () => {
    // varint field 5, fixed64 field 6, fixed32 field 7, length-delimited field 8, then status = 1
    const unknown = bytes('2805' + '31' + '00'.repeat(8) + '3d' + '00'.repeat(4) + '4202abcd' + '0801');
    expect(HealthCheckResponseCodec.decode(unknown)).toEqual({ status: 1 });
    expect(() => HealthCheckRequestCodec.decode(bytes('0a05ab'))).toThrow(RangeError); // 5 bytes announced, 1 there
    expect(() => HealthCheckResponseCodec.decode(bytes('08ff'))).toThrow(RangeError); // varint cut short
    expect(() => HealthCheckResponseCodec.decode(bytes('0b'))).toThrow(RangeError); // a group never ended
  });
});

describe('without protobufjs', () => {
  beforeAll(buildIfStale, 120_000);

  it('serveGrpcPlugin and launchGrpcPlugin throw GrpcPluginUnavailable saying what to install, before starting anything', async () => {
    // A real node where protobufjs cannot be resolved, as if it were not installed.
    const script = `const m = await import(${JSON.stringify(`${ROOT}dist/src/plugin-grpc/index.js`)});
const grpc = (await import('@grpc/grpc-js')).default;
const report = (e) => console.log(e instanceof m.GrpcPluginUnavailable, e.code, e.message);
await m.launchGrpcPlugin('/nonexistent/never-started').then(() => console.log('launched'), report);
const handshake = { magicCookieKey: 'TEST_COOKIE', magicCookieValue: 'x' };
await m.serveGrpcPlugin(new grpc.Server(), { handshake, env: { TEST_COOKIE: 'x' } }).then(() => console.log('served'), report);`;
    const out = (await runModule(script, hidingPackages(['protobufjs']), 15_000)).stdout.trim();
    const lines = out.split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^true ERR_PLUGIN_GRPC_UNAVAILABLE wirecall\/plugin-grpc needs the optional peer dependency protobufjs: npm install protobufjs \(Cannot find module protobufjs\/light\.js\)$/);
    }
  });
});

describe('isolation', () => {
  it('nothing outside src/plugin-grpc imports it, @grpc/grpc-js or protobufjs; it imports only src/plugin and below', () => {
    const src = path.join(ROOT, 'src');
    for (const entry of readdirSync(src, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
      const file = path.join(entry.parentPath, entry.name);
      const rel = path.relative(src, file);
      if (rel.split(path.sep).includes('test-util')) continue;
      const text = readFileSync(file, 'utf8');
      const imports = [...text.matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);
      if (rel.startsWith(`plugin-grpc${path.sep}`)) {
        for (const spec of imports.filter((i) => i.startsWith('../'))) {
          expect(spec, rel).toMatch(/^\.\.\/(plugin\/|errors\.js|util\/)/);
        }
      } else {
        expect(imports.filter((i) => i.includes('plugin-grpc') || i.startsWith('@grpc/') || i.startsWith('protobufjs')), rel).toEqual([]);
        expect(text.includes("'protobufjs"), rel).toBe(false); // no require('protobufjs…') either
      }
    }
  });
});
