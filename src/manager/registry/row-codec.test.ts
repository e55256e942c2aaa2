import { describe, expect, it } from 'vitest';
import { parseRow, rowOf, type ParsedRow } from './row-codec.js';
import { fromWireTimestamp, toWireTimestamp } from './timestamp.js';
import type { ServiceEntry } from './types.js';
import { readFixture } from '../../test-util/registry-files.js';

const T0 = 1712000000_000; // ms

function ok(parsed: ParsedRow): ServiceEntry {
  if (!parsed.ok) throw new Error(`expected a well-formed row: ${parsed.problem}`);
  return parsed.entry;
}

describe('timestamps', () => {
  it('reads the object form, integer seconds and float seconds', () => {
    expect(fromWireTimestamp({ secs_since_epoch: 1712000000, nanos_since_epoch: 123456789 })).toBeCloseTo(T0 + 123.456789, 6);
    expect(fromWireTimestamp(1712000000)).toBe(T0);
    expect(fromWireTimestamp(1712000000.25)).toBe(T0 + 250);
  });

  it('rejects what is not a timestamp', () => {
    const bad = [
      null,
      'yesterday',
      -1,
      NaN,
      {},
      [],
      { secs_since_epoch: 1 },
      { secs_since_epoch: 1, nanos_since_epoch: 1e9 },
      { secs_since_epoch: 1.5, nanos_since_epoch: 0 },
    ];
    for (const value of bad) {
      expect(fromWireTimestamp(value), JSON.stringify(value)).toBeUndefined();
    }
  });

  it('writes the object form, exact for whole ms and carrying rounding into the seconds', () => {
    expect(toWireTimestamp(T0 + 123)).toEqual({ secs_since_epoch: 1712000000, nanos_since_epoch: 123_000_000 });
    expect(fromWireTimestamp(toWireTimestamp(T0 + 123))).toBe(T0 + 123);
    expect(toWireTimestamp(T0 + 999.9999999)).toEqual({ secs_since_epoch: 1712000001, nanos_since_epoch: 0 });
  });
});

describe('parseRow', () => {
  it("reads the reference's example row", async () => {
    const [row] = JSON.parse(await readFixture('dcc-mcp-core-example.json')) as unknown[];
    const entry = ok(parseRow(row));
    expect(entry).toEqual({
      schemaVersion: 1,
      dccType: 'maya',
      instanceId: '00112233-4455-6677-8899-aabbccddeeff',
      host: '127.0.0.1',
      port: 18812,
      transportAddress: { type: 'tcp', host: '127.0.0.1', port: 18812 },
      version: '2025.1',
      scene: null,
      pid: 4242,
      metadata: {},
      registeredAt: expect.closeTo(T0 + 123.456789, 6),
      lastHeartbeat: expect.closeTo(T0 + 123.456789, 6),
      status: 'available',
    });
    expect(entry.extra).toBeUndefined();
  });

  it('reads every format of the mixed fixture', async () => {
    const rows = JSON.parse(await readFixture('mixed-formats.json')) as unknown[];
    const blender = ok(parseRow(rows[0]));
    expect(blender.schemaVersion).toBe(0); // missing
    expect(blender.status).toBe('available'); // missing
    expect(blender.pid).toBeUndefined();
    expect(blender.transportAddress).toEqual({ type: 'unix_socket', path: '/tmp/dcc-mcp/blender-1.sock' });
    expect(blender.registeredAt).toBe(T0);
    expect(blender.lastHeartbeat).toBe(T0 + 5000);
    expect(blender.metadata).toEqual({ python: '3.11' });
    expect(blender.extra).toEqual({
      display_name: 'Blender (shot 10)',
      documents: ['/projects/shot010.blend', '/projects/lib.blend'],
      extras: { gpu: 'rtx', nested: { a: [1, 2, { b: null }], flag: true } },
    });

    const houdini = ok(parseRow(rows[1]));
    expect(houdini.transportAddress).toEqual({ type: 'named_pipe', path: '\\\\.\\pipe\\dcc-mcp-houdini-2' });
    expect(houdini.registeredAt).toBe(T0 + 250);
    expect(houdini.lastHeartbeat).toBe(T0 + 10_500);
    expect(houdini.status).toBe('busy');
    expect(houdini.pid).toBe(31337);

    const maya = ok(parseRow(rows[2]));
    expect(maya.transportAddress).toEqual({ type: 'tcp', host: '::1', port: 18813 });
    expect(maya.status).toBe('shutting_down');
    expect(maya.lastHeartbeat).toBeCloseTo(T0 + 1999.999999, 6);

    const noType = parseRow(rows[3]);
    expect(noType).toEqual({ ok: false, problem: expect.stringContaining('dcc_type') });

    const nuke = parseRow(rows[4]);
    expect(nuke.ok && nuke.entry.status).toBe('unreachable'); // "degraded" is unknown: visible, never routed
    expect(nuke.ok && nuke.warning).toMatch(/unknown status "degraded"/);
  });

  it('defaults what dcc-mcp-core may leave out', () => {
    const entry = ok(
      parseRow({
        dcc_type: 'max',
        instance_id: 'id-1',
        transport_address: { type: 'unix_socket', path: '/tmp/m.sock' },
        registered_at: 1712000000,
      }),
    );
    expect(entry).toMatchObject({ host: '127.0.0.1', port: 0, version: null, scene: null, metadata: {}, status: 'available' });
    expect(entry.lastHeartbeat).toBe(T0); // falls back to registered_at
  });

  it.each([
    ['not an object', [1, 2]],
    ['empty dcc_type', { dcc_type: '', instance_id: 'x', host: 'h', port: 1, last_heartbeat: 1 }],
    ['no instance_id', { dcc_type: 'maya', host: 'h', port: 1, last_heartbeat: 1 }],
    ['port out of range', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 70000, last_heartbeat: 1 }],
    ['no host and no address', { dcc_type: 'maya', instance_id: 'x', port: 1, last_heartbeat: 1 }],
    ['no timestamps', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 1 }],
    ['bad timestamp', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 1, last_heartbeat: 'now' }],
    ['pid not a number', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 1, last_heartbeat: 1, pid: '12' }],
    ['metadata an array', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 1, last_heartbeat: 1, metadata: [] }],
    ['unknown address type', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 1, last_heartbeat: 1, transport_address: { type: 'ws' } }],
    ['status not a string', { dcc_type: 'maya', instance_id: 'x', host: 'h', port: 1, last_heartbeat: 1, status: 3 }],
  ])('calls a row malformed: %s', (_name, row) => {
    expect(parseRow(row).ok).toBe(false);
  });

  it('rowOf writes what parseRow reads, in dcc-mcp-core field order, extra fields last', () => {
    const entry: ServiceEntry = {
      schemaVersion: 1,
      dccType: 'maya',
      instanceId: '00112233-4455-6677-8899-aabbccddeeff',
      host: '127.0.0.1',
      port: 0,
      transportAddress: { type: 'unix_socket', path: '/tmp/x.sock' },
      version: '2025.1',
      scene: 'a.ma',
      pid: 4242,
      metadata: { k: [1, 'two'] },
      registeredAt: T0 + 1,
      lastHeartbeat: T0 + 2,
      status: 'booting',
      extra: { display_name: 'Maya', status: 'ignored: a known field' },
    };
    const row = rowOf(entry);
    expect(Object.keys(row)).toEqual([
      'schema_version',
      'dcc_type',
      'instance_id',
      'host',
      'port',
      'transport_address',
      'version',
      'scene',
      'pid',
      'metadata',
      'registered_at',
      'last_heartbeat',
      'status',
      'display_name',
    ]);
    expect(row['status']).toBe('booting');
    expect(ok(parseRow(JSON.parse(JSON.stringify(row))))).toEqual({ ...entry, extra: { display_name: 'Maya' } });
  });
});

describe('tls', () => {
  const base = {
    schema_version: 1,
    dcc_type: 'maya',
    instance_id: 'a',
    host: '10.0.0.7',
    port: 7443,
    transport_address: { type: 'tcp', host: '10.0.0.7', port: 7443 },
    last_heartbeat: 1712000000,
  };
  const secure = { wirecall: { tls: true } };

  it('extras.wirecall.tls is read as entry.tls and written back in extras, after metadata; false or absent means plain', () => {
    const entry = ok(parseRow({ ...base, extras: secure }));
    expect(entry.tls).toBe(true);
    expect(entry.extra).toEqual({ extras: secure });
    const row = rowOf(entry);
    expect(Object.keys(row).indexOf('extras')).toBe(Object.keys(row).indexOf('metadata') + 1);
    expect(row['extras']).toEqual(secure);
    expect(ok(parseRow(row)).tls).toBe(true);
    for (const plain of [base, { ...base, extras: { wirecall: { tls: false } } }, { ...base, extras: { tls: true } }, { ...base, extras: 'x' }]) {
      expect('tls' in ok(parseRow(plain))).toBe(false);
    }
  });

  it('a new TLS entry gets extras.wirecall.tls beside what else extras holds; plain ones no extras of ours', () => {
    const entry = ok(parseRow(base));
    expect(rowOf({ ...entry, tls: true })['extras']).toEqual(secure);
    expect(rowOf({ ...entry, tls: true, extra: { extras: { note: 1, wirecall: { x: 2 } } } })['extras']).toEqual({ note: 1, wirecall: { x: 2, tls: true } });
    expect('extras' in rowOf(entry)).toBe(false);
    // A top-level tls (which dcc-mcp-core's rewrites drop) is not ours: kept as an unknown field.
    expect(ok(parseRow({ ...base, tls: true }))).toMatchObject({ extra: { tls: true } });
    expect('tls' in ok(parseRow({ ...base, tls: true }))).toBe(false);
  });

  it('a wirecall.tls that is not a boolean makes the row malformed; IPC rows never use TLS', () => {
    expect(parseRow({ ...base, extras: { wirecall: { tls: 'yes' } } })).toEqual({ ok: false, problem: 'extras.wirecall.tls is not a boolean' });
    const ipc = ok(parseRow({ ...base, port: 0, transport_address: { type: 'unix_socket', path: '/tmp/a.sock' }, extras: secure }));
    expect('tls' in ipc).toBe(false);
  });
});
