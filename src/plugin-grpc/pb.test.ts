/** The hand-written protobuf codecs of go-plugin's messages, byte for byte; and that nothing outside this adapter loads grpc-js. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../test-util/build.js';
import {
  PbWriter,
  ServingStatus,
  StdioChannel,
  decodeConnInfo,
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  decodeStdioData,
  decodeStringValue,
  encodeConnInfo,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  encodeStdioData,
  encodeStringValue,
  readFields,
  servingStatusName,
} from './pb.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('protobuf codecs (field numbers of go-plugin and grpc health)', () => {
  it('HealthCheckRequest / HealthCheckResponse', () => {
    expect(hex(encodeHealthCheckRequest({ service: 'plugin' }))).toBe('0a06706c7567696e');
    expect(decodeHealthCheckRequest(Buffer.from('0a06706c7567696e', 'hex'))).toEqual({ service: 'plugin' });
    expect(hex(encodeHealthCheckRequest({ service: '' }))).toBe('');
    expect(hex(encodeHealthCheckResponse({ status: ServingStatus.SERVING }))).toBe('0801');
    expect(decodeHealthCheckResponse(Buffer.from('0802', 'hex'))).toEqual({ status: 2 });
    expect(decodeHealthCheckResponse(Buffer.alloc(0))).toEqual({ status: 0 });
    expect(servingStatusName(1)).toBe('SERVING');
    expect(servingStatusName(99)).toBe('UNKNOWN');
  });

  it('ConnInfo with its Knock sub-message (written even when empty)', () => {
    const info = { serviceId: 300, network: 'unix', address: '/tmp/s', knock: { knock: true, ack: false, error: 'no' } };
    const bytes = encodeConnInfo(info);
    expect(hex(bytes)).toBe(`08ac02` + `1204756e6978` + `1a062f746d702f73` + `2206` + `0801` + `1a026e6f`);
    expect(decodeConnInfo(bytes)).toEqual(info);
    expect(hex(encodeConnInfo({ serviceId: 0, network: '', address: '', knock: { knock: false, ack: false, error: '' } }))).toBe('2200');
    expect(decodeConnInfo(Buffer.from('2200', 'hex'))).toEqual({ serviceId: 0, network: '', address: '', knock: { knock: false, ack: false, error: '' } });
    expect(decodeConnInfo(Buffer.alloc(0))).toEqual({ serviceId: 0, network: '', address: '' });
  });

  it('StdioData and StringValue', () => {
    const data = { channel: StdioChannel.STDERR, data: Buffer.from('hi\n') };
    expect(hex(encodeStdioData(data))).toBe('0802120368690a');
    expect(decodeStdioData(encodeStdioData(data))).toEqual(data);
    expect(hex(encodeStringValue('é'))).toBe('0a02c3a9');
    expect(decodeStringValue(Buffer.from('0a02c3a9', 'hex'))).toBe('é');
  });

  it('skips unknown fields of every wire type, refuses truncated input', () => {
    const unknown = Buffer.concat([Buffer.from('2805', 'hex'), Buffer.from('31' + '00'.repeat(8), 'hex'), Buffer.from('3d' + '00'.repeat(4), 'hex'), Buffer.from('0801', 'hex')]);
    expect(decodeHealthCheckResponse(unknown)).toEqual({ status: 1 });
    expect(() => readFields(Buffer.from('0a05ab', 'hex'))).toThrow(RangeError);
    expect(() => readFields(Buffer.from('08ff', 'hex'))).toThrow(RangeError);
    expect(() => readFields(Buffer.from('0b', 'hex'))).toThrow(RangeError); // wire type 3 (groups)
    expect(() => new PbWriter().uint(1, -1)).toThrow(RangeError);
    expect(readFields(new PbWriter().uint(2, 2 ** 40).finish())).toEqual([{ field: 2, value: 2 ** 40 }]);
  });
});

describe('isolation', () => {
  it('nothing outside src/plugin-grpc imports it or @grpc/grpc-js; it imports only src/plugin and below', () => {
    const src = path.join(ROOT, 'src');
    for (const entry of readdirSync(src, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
      const file = path.join(entry.parentPath, entry.name);
      const rel = path.relative(src, file);
      if (rel.split(path.sep).includes('test-util')) continue;
      const imports = [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);
      if (rel.startsWith(`plugin-grpc${path.sep}`)) {
        for (const spec of imports.filter((i) => i.startsWith('../'))) {
          expect(spec, rel).toMatch(/^\.\.\/(plugin\/|errors\.js|util\/)/);
        }
      } else {
        expect(imports.filter((i) => i.includes('plugin-grpc') || i.startsWith('@grpc/')), rel).toEqual([]);
      }
    }
  });
});
