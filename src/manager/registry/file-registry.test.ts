import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOption, RegistryFileError, SerializationError, ServiceAlreadyRegistered, ShutdownError } from '../../errors.js';
import type { Endpoint } from '../../transport/endpoint.js';
import { FileRegistry, type FileRegistryOptions } from './file-registry.js';
import { toWireTimestamp } from './timestamp.js';
import { deadPid, installFixture, readFixture, readServicesJson } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';

const TCP: Endpoint = { kind: 'tcp', host: '127.0.0.1', port: 18812 };
const UNIX: Endpoint = { kind: 'unix', path: '/tmp/dcc-mcp/maya-1.sock' };
/** What a registry directory holds after a register() for this process: no temp file, no services.json.lock. */
const AFTER_REGISTER = ['locks', 'services.json', 'services.lock'];
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const scratch = new Scratch();
let dir: string;
let warnings: string[];

function open(options: FileRegistryOptions = {}): FileRegistry {
  return new FileRegistry({ dir, onWarning: (m) => warnings.push(m), ...options });
}

/** A row as dcc-mcp-core writes it, heartbeat `ageMs` ago. */
function row(dccType: string, instanceId: string, ageMs: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  const at = toWireTimestamp(Date.now() - ageMs);
  return {
    schema_version: 1,
    dcc_type: dccType,
    instance_id: instanceId,
    host: '127.0.0.1',
    port: 18812,
    version: null,
    scene: null,
    metadata: {},
    registered_at: at,
    last_heartbeat: at,
    status: 'available',
    ...fields,
  };
}

async function writeRows(rows: unknown[]): Promise<void> {
  await fs.writeFile(path.join(dir, 'services.json'), JSON.stringify(rows, null, 2));
}

beforeEach(async () => {
  dir = scratch.dir();
  warnings = [];
});
afterEach(() => scratch.cleanup());

describe('register and read back', () => {
  it('round-trips every field and writes the dcc-mcp-core format', async () => {
    const reg = open();
    const before = Date.now();
    const entry = await reg.register('maya', TCP, {
      instanceId: '00112233-4455-6677-8899-aabbccddeeff',
      version: '2025.1',
      scene: '/shots/010.ma',
      metadata: { user: 'anim01', gpus: '0,1' },
      status: 'booting',
      pid: process.pid,
      extra: { display_name: 'Maya 2025', documents: ['/shots/010.ma'], port: 1 }, // known keys are not extra
    });
    expect(entry).toEqual({
      schemaVersion: 1,
      dccType: 'maya',
      instanceId: '00112233-4455-6677-8899-aabbccddeeff',
      host: '127.0.0.1',
      port: 18812,
      transportAddress: { type: 'tcp', host: '127.0.0.1', port: 18812 },
      version: '2025.1',
      scene: '/shots/010.ma',
      pid: process.pid,
      sentinelPath: path.join(dir, 'locks', 'maya-00112233-4455-6677-8899-aabbccddeeff.lock'),
      metadata: { user: 'anim01', gpus: '0,1' },
      registeredAt: entry.lastHeartbeat,
      lastHeartbeat: expect.any(Number),
      status: 'booting',
      extra: { display_name: 'Maya 2025', documents: ['/shots/010.ma'] },
    });
    expect(entry.registeredAt).toBeGreaterThanOrEqual(before);
    expect(await reg.get('maya', entry.instanceId)).toEqual(entry);
    expect(await reg.listAll()).toEqual([entry]);

    const [written] = await readServicesJson(dir);
    expect(written).toEqual({
      schema_version: 1,
      dcc_type: 'maya',
      instance_id: '00112233-4455-6677-8899-aabbccddeeff',
      host: '127.0.0.1',
      port: 18812,
      transport_address: { type: 'tcp', host: '127.0.0.1', port: 18812 },
      version: '2025.1',
      scene: '/shots/010.ma',
      pid: process.pid,
      sentinel_path: path.join(dir, 'locks', 'maya-00112233-4455-6677-8899-aabbccddeeff.lock'),
      metadata: { user: 'anim01', gpus: '0,1' },
      registered_at: toWireTimestamp(entry.registeredAt),
      last_heartbeat: toWireTimestamp(entry.lastHeartbeat),
      status: 'booting',
      display_name: 'Maya 2025',
      documents: ['/shots/010.ma'],
    });
    // Pretty-printed, as dcc-mcp-core writes it.
    expect(await fs.readFile(path.join(dir, 'services.json'), 'utf8')).toMatch(/^\[\n {2}\{\n {4}"schema_version": 1,/);
  });

  it('fills in the defaults: UUID v4, our pid, available, {} metadata; IPC rows get 127.0.0.1:0', async () => {
    const entry = await open().register('blender', UNIX);
    expect(entry.instanceId).toMatch(UUID_V4);
    const [written] = await readServicesJson(dir);
    expect(written).toMatchObject({
      instance_id: entry.instanceId,
      host: '127.0.0.1',
      port: 0,
      transport_address: { type: 'unix_socket', path: UNIX.path },
      version: null,
      scene: null,
      pid: process.pid,
      metadata: {},
      status: 'available',
    });
  });

  it('validates its arguments before touching the file', async () => {
    const reg = open();
    await expect(reg.register('', TCP)).rejects.toThrow(InvalidOption);
    await expect(reg.register(42 as unknown as string, TCP)).rejects.toThrow(InvalidOption);
    await expect(reg.register('maya', { kind: 'tcp', host: 'bad host', port: 1 })).rejects.toThrow(/invalid endpoint/);
    await expect(reg.register('maya', TCP, { metadata: { n: 1n } as unknown as Record<string, string> })).rejects.toThrow(SerializationError);
    // dcc-mcp-core reads metadata as strings: anything else would make it drop the whole file.
    await expect(reg.register('maya', TCP, { metadata: { gpus: [0, 1] } as unknown as Record<string, string> })).rejects.toThrow(/metadata\.gpus must be a string/);
    await expect(reg.register('maya', TCP, { metadata: { n: 1 } as unknown as Record<string, string> })).rejects.toThrow(InvalidOption);
    await expect(reg.register('maya', TCP, { status: 'sleepy' as 'busy' })).rejects.toThrow(InvalidOption);
    await expect(reg.setStatus('maya', 'x', 'sleepy' as 'busy')).rejects.toThrow(InvalidOption);
    await expect(fs.access(path.join(dir, 'services.json'))).rejects.toThrow();
  });

  it('refuses to register a live (dccType, instanceId) twice, but replaces a stale or dead one', async () => {
    const reg = open();
    const first = await reg.register('maya', TCP);
    await expect(reg.register('maya', TCP, { instanceId: first.instanceId })).rejects.toThrow(ServiceAlreadyRegistered);
    // Same id under another DCC type is another key.
    await reg.register('houdini', TCP, { instanceId: first.instanceId });

    const dead = await deadPid();
    await writeRows([row('nuke', 'stale-1', 60_000), row('nuke', 'dead-1', 0, { pid: dead })]);
    const a = await reg.register('nuke', TCP, { instanceId: 'stale-1' });
    const b = await reg.register('nuke', TCP, { instanceId: 'dead-1' });
    expect((await reg.listInstances('nuke')).map((e) => e.instanceId).sort()).toEqual(['dead-1', 'stale-1']);
    expect(await readServicesJson(dir)).toHaveLength(2);
    expect([a.pid, b.pid]).toEqual([process.pid, process.pid]);
  });

  it('deregisters, heartbeats and sets status; false when the row is gone', async () => {
    const reg = open();
    const a = await reg.register('maya', TCP);
    const b = await reg.register('maya', UNIX);
    const c = await reg.register('blender', TCP);

    const longAgo = toWireTimestamp(1_000);
    await writeRows((await readServicesJson(dir)).map((r) => ({ ...r, last_heartbeat: longAgo, registered_at: longAgo })));
    expect(await reg.heartbeat('maya', a.instanceId)).toBe(true);
    expect((await reg.get('maya', a.instanceId))!.lastHeartbeat).toBeGreaterThan(1_000);
    expect((await reg.get('maya', a.instanceId))!.registeredAt).toBe(1_000);

    for (const s of ['busy', 'unreachable', 'shutting_down', 'stale', 'booting', 'available'] as const) {
      expect(await reg.setStatus('maya', a.instanceId, s)).toBe(true);
      expect((await reg.get('maya', a.instanceId))!.status).toBe(s);
    }
    // Statuses that routing avoids are still listed: routing decides, not the registry.
    await reg.setStatus('maya', a.instanceId, 'unreachable');
    expect((await reg.listInstances('maya')).map((e) => e.instanceId)).toEqual([a.instanceId]); // b, c are stale now

    expect(await reg.deregister('maya', b.instanceId)).toBe(true);
    expect(await reg.deregister('maya', b.instanceId)).toBe(false);
    expect(await reg.heartbeat('maya', b.instanceId)).toBe(false);
    expect(await reg.setStatus('maya', b.instanceId, 'busy')).toBe(false);
    expect(await reg.get('maya', b.instanceId)).toBeUndefined();
    expect((await readServicesJson(dir)).map((r) => r['instance_id'])).toEqual([a.instanceId, c.instanceId]);
  });

  it('lists per DCC type', async () => {
    const reg = open();
    const m1 = await reg.register('maya', TCP);
    const m2 = await reg.register('maya', UNIX);
    const b = await reg.register('blender', TCP);
    expect((await reg.listInstances('maya')).map((e) => e.instanceId)).toEqual([m1.instanceId, m2.instanceId]);
    expect((await reg.listInstances('blender')).map((e) => e.instanceId)).toEqual([b.instanceId]);
    expect(await reg.listInstances('max')).toEqual([]);
    expect(await reg.listAll()).toHaveLength(3);
  });

  it('works before the file and the directory exist, creating the directory 0700', async () => {
    dir = path.join(dir, 'a', 'b');
    const reg = open();
    expect(await reg.listAll()).toEqual([]);
    await reg.register('maya', TCP);
    if (process.platform !== 'win32') expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    // Nothing left behind but the file itself: no temp file, no lock.
    expect((await fs.readdir(dir)).sort()).toEqual(AFTER_REGISTER);
  });

  it('serializes concurrent writes from one process (one or several instances)', async () => {
    const one = open();
    const two = open();
    const entries = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? one : two).register(`dcc-${i % 3}`, { kind: 'tcp', host: '127.0.0.1', port: 30000 + i })),
    );
    await Promise.all(entries.map((e, i) => (i % 3 ? one : two).heartbeat(e.dccType, e.instanceId)));
    await Promise.all(entries.slice(0, 10).map((e) => one.deregister(e.dccType, e.instanceId)));
    const ids = (await readServicesJson(dir)).map((r) => r['instance_id']).sort();
    expect(ids).toEqual(entries.slice(10).map((e) => e.instanceId).sort());
  });

  it('close() waits for pending work, then refuses calls', async () => {
    const reg = open();
    const pending = reg.register('maya', TCP);
    await reg.close();
    await expect(pending).resolves.toMatchObject({ dccType: 'maya' });
    await expect(reg.listAll()).rejects.toThrow(ShutdownError);
    await expect(reg.register('maya', TCP)).rejects.toThrow(ShutdownError);
    expect(await readServicesJson(dir)).toHaveLength(1);
  });
});

describe('files written by dcc-mcp-core', () => {
  it("reads the reference's example row", async () => {
    await installFixture(dir, 'dcc-mcp-core-example.json');
    const entry = await open().get('maya', '00112233-4455-6677-8899-aabbccddeeff');
    expect(entry).toMatchObject({ dccType: 'maya', port: 18812, version: '2025.1', pid: 4242, status: 'available', schemaVersion: 1 });
  });

  it('keeps rows it did not write exactly as they were (unknown fields, formats, malformed rows) through rewrites', async () => {
    await installFixture(dir, 'mixed-formats.json');
    const original = JSON.parse(await readFixture('mixed-formats.json')) as Array<Record<string, unknown>>;
    const reg = open();

    const added = await reg.register('maya', TCP);
    let rows = await readServicesJson(dir);
    expect(rows.slice(0, original.length)).toEqual(original);
    expect(rows[original.length]).toMatchObject({ instance_id: added.instanceId });

    // Patching one of them touches only that field.
    expect(await reg.heartbeat('blender', '11111111-1111-4111-8111-111111111111')).toBe(true);
    expect(await reg.setStatus('maya', '33333333-3333-4333-8333-333333333333', 'available')).toBe(true);
    rows = await readServicesJson(dir);
    const { last_heartbeat: beat, ...blenderRest } = rows[0]!;
    const { last_heartbeat: oldBeat, ...blenderOriginal } = original[0]!;
    expect(blenderRest).toEqual(blenderOriginal);
    expect(beat).not.toEqual(oldBeat);
    expect(beat).toEqual({ secs_since_epoch: expect.any(Number), nanos_since_epoch: expect.any(Number) });
    expect(rows[2]).toEqual({ ...original[2], status: 'available' });
    expect(rows[1]).toEqual(original[1]);
    expect(rows[3]).toEqual(original[3]); // the malformed row
    expect(rows[4]).toEqual(original[4]); // "degraded" stays "degraded" on disk

    // prune() removes the stale rows it understands, never the malformed one.
    expect(await reg.prune()).toBe(3); // houdini, the IPv6 maya, nuke
    rows = await readServicesJson(dir);
    expect(rows.map((r) => r['instance_id'])).toEqual(['11111111-1111-4111-8111-111111111111', original[3]!['instance_id'], added.instanceId]);
  });

  it('reads 0.20.x rows (leases, capacity, sentinel, booting/stale, float seconds) and keeps them through rewrites', async () => {
    await installFixture(dir, 'dcc-mcp-core-0.20.json');
    const original = JSON.parse(await readFixture('dcc-mcp-core-0.20.json')) as Array<Record<string, unknown>>;
    const reg = open({ staleAfterMs: Infinity });
    const all = await reg.listAll();
    expect(all.map((e) => [e.dccType, e.status])).toEqual([
      ['maya', 'booting'],
      ['houdini', 'stale'],
    ]);
    expect(all[0]).toMatchObject({
      transportAddress: { type: 'unix_socket', path: '/tmp/dcc-mcp/maya-8.sock' },
      registeredAt: 1712000000125,
      lastHeartbeat: 1712000060500,
      schemaVersion: 1,
      extra: {
        adapter_version: '0.9.3',
        capacity: 4,
        lease_owner: 'agent-7',
        current_job_id: 'job-0001',
        lease_expires_at: 1712000120.75,
        host_pid: 1,
        documents: ['/proj/shot020.ma', '/proj/ref.ma'],
      },
    });
    expect(warnings).toEqual([]);

    const added = await reg.register('maya', TCP);
    expect(await reg.heartbeat('maya', added.instanceId)).toBe(true);
    expect(await reg.setStatus('maya', added.instanceId, 'busy')).toBe(true);
    const rows = await readServicesJson(dir);
    expect(rows.slice(0, 2)).toEqual(original);
    expect(rows.slice(0, 2).map((r) => Object.keys(r))).toEqual(original.map((r) => Object.keys(r)));
    expect(rows[2]).toMatchObject({ instance_id: added.instanceId, status: 'busy' });
  });

  it('leaves malformed rows out of answers, warning once per row', async () => {
    await writeRows([row('maya', 'good', 0), { ...row('maya', 'bad', 0), port: 'eighty' }, 'not even an object']);
    const reg = open();
    expect((await reg.listAll()).map((e) => e.instanceId)).toEqual(['good']);
    expect(await reg.get('maya', 'bad')).toBeUndefined();
    await reg.listAll();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/malformed row.*port/);
    expect(warnings[1]).toMatch(/malformed row.*not a JSON object/);
  });

  it('uses the freshest of duplicate rows (left by writers without a lock)', async () => {
    await writeRows([row('maya', 'dup', 5_000, { port: 1 }), row('maya', 'dup', 0, { port: 2 }), row('maya', 'dup', 9_000, { port: 3 })]);
    const reg = open();
    expect((await reg.listAll()).map((e) => e.port)).toEqual([2]);
    expect(await reg.deregister('maya', 'dup')).toBe(true);
    expect(await readServicesJson(dir)).toEqual([]);
  });

  it('reads a file with schema_version 2 rows but refuses to rewrite it', async () => {
    await installFixture(dir, 'schema-v2.json');
    const before = await fs.readFile(path.join(dir, 'services.json'));
    const reg = open({ staleAfterMs: Infinity });
    expect((await reg.listAll()).map((e) => [e.instanceId, e.schemaVersion])).toEqual([
      ['66666666-6666-4666-8666-666666666666', 1],
      ['77777777-7777-4777-8777-777777777777', 2],
    ]);
    expect((await reg.get('maya', '77777777-7777-4777-8777-777777777777'))!.extra).toEqual({ capabilities: ['scene.read', 'scene.write'] });
    await expect(reg.register('maya', TCP)).rejects.toThrow(RegistryFileError);
    await expect(reg.heartbeat('maya', '66666666-6666-4666-8666-666666666666')).rejects.toThrow(/schema_version 2/);
    await expect(open().prune()).rejects.toThrow(RegistryFileError);
    expect(await reg.deregister('maya', 'not-there')).toBe(false); // nothing to rewrite
    expect(await fs.readFile(path.join(dir, 'services.json'))).toEqual(before);
  });
});

describe('liveness', () => {
  it('hides rows whose heartbeat is older than staleAfterMs; get() still returns them; prune() removes them', async () => {
    await writeRows([row('maya', 'fresh', 0), row('maya', 'old', 5_000), row('maya', 'ancient', 3_600_000)]);
    expect((await open().listAll()).map((e) => e.instanceId)).toEqual(['fresh', 'old']); // default 15 s
    const reg = open({ staleAfterMs: 1_000 });
    expect((await reg.listInstances('maya')).map((e) => e.instanceId)).toEqual(['fresh']);
    expect(await reg.get('maya', 'old')).toMatchObject({ instanceId: 'old' });
    expect((await reg.listWithLiveness()).map((r) => [r.entry.instanceId, r.liveness])).toEqual([
      ['fresh', 'live'],
      ['old', 'stale'],
      ['ancient', 'stale'],
    ]);
    expect(await reg.prune()).toBe(2);
    expect(await reg.prune()).toBe(0);
    expect((await readServicesJson(dir)).map((r) => r['instance_id'])).toEqual(['fresh']);
  });

  it('a heartbeat brings a stale row back', async () => {
    await writeRows([row('maya', 'sleepy', 60_000)]);
    const reg = open();
    expect(await reg.listAll()).toEqual([]);
    expect(await reg.heartbeat('maya', 'sleepy')).toBe(true);
    expect((await reg.listAll()).map((e) => e.instanceId)).toEqual(['sleepy']);
  });

  it('hides and prunes local rows whose pid is dead, but never judges a remote host by local pids', async () => {
    const dead = await deadPid();
    const reg = open();
    const gone = await reg.register('maya', TCP, { pid: dead });
    const ipc = await reg.register('maya', UNIX, { pid: dead });
    const remote = await reg.register('maya', { kind: 'tcp', host: '203.0.113.7', port: 4000 }, { pid: dead });
    const alive = await reg.register('maya', TCP, { pid: process.pid });
    expect((await reg.listAll()).map((e) => e.instanceId)).toEqual([remote.instanceId, alive.instanceId]);
    expect(await reg.get('maya', gone.instanceId)).toMatchObject({ pid: dead });
    expect(await reg.prune()).toBe(2);
    expect((await readServicesJson(dir)).map((r) => r['instance_id'])).toEqual([remote.instanceId, alive.instanceId]);
    expect(ipc.pid).toBe(dead);
  });
});

describe('damaged files', () => {
  const cases: Array<[string, Buffer]> = [
    ['not JSON', Buffer.from('[{"dcc_type": "maya", "instance_')],
    ['zero-filled', Buffer.alloc(512)],
    ['JSON but not an array', Buffer.from('{"services": []}')],
  ];

  it.each(cases)('%s: moved aside with a warning; the registry starts empty and stays usable', async (_name, bytes) => {
    await fs.writeFile(path.join(dir, 'services.json'), bytes);
    const reg = open();
    expect(await reg.listAll()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/was corrupt.*moved it aside to .*services\.json\.corrupted-\d+/);
    const files = await fs.readdir(dir);
    const aside = files.filter((f) => /^services\.json\.corrupted-\d+$/.test(f));
    expect(aside).toHaveLength(1);
    expect(await fs.readFile(path.join(dir, aside[0]!))).toEqual(bytes);
    expect(files).not.toContain('services.json');

    await reg.register('maya', TCP);
    expect(await reg.listAll()).toHaveLength(1);
  });

  it('a reader that cannot move a corrupt file aside (lock held elsewhere) reads it as empty, with a warning', async () => {
    await fs.writeFile(path.join(dir, 'services.json'), 'garbage');
    await fs.mkdir(path.join(dir, 'services.json.lock'));
    expect(await open({ lockStaleMs: 60_000, lockTimeoutMs: 50 }).listAll()).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/is corrupt .* could not be moved aside/)]);
    expect(await fs.readFile(path.join(dir, 'services.json'), 'utf8')).toBe('garbage');
  });

  it('a write that finds a corrupt file moves it aside too', async () => {
    await fs.writeFile(path.join(dir, 'services.json'), Buffer.alloc(64));
    await fs.writeFile(path.join(dir, 'services.json.corrupted-1'), 'an older one');
    const reg = open();
    await reg.register('maya', TCP);
    expect(warnings).toHaveLength(1);
    expect((await fs.readdir(dir)).filter((f) => f.includes('corrupted')).length).toBe(2);
    expect(await readServicesJson(dir)).toHaveLength(1);
  });

  it.each([
    ['0 bytes', ''],
    ['whitespace', ' \n\t\n'],
  ])('an empty file (%s) is an empty registry: no warning, nothing moved', async (_name, text) => {
    await fs.writeFile(path.join(dir, 'services.json'), text);
    const reg = open();
    expect(await reg.listAll()).toEqual([]);
    await reg.register('maya', TCP);
    expect(await readServicesJson(dir)).toHaveLength(1);
    expect(warnings).toEqual([]);
    expect((await fs.readdir(dir)).sort()).toEqual(AFTER_REGISTER);
  });
});
