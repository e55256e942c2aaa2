import { describe, expect, it } from 'vitest';
import { InvalidOption, ServiceNotFound } from '../errors.js';
import type { ServiceEntry, ServiceStatus, TransportAddress } from './registry/types.js';
import { Router, matchInstanceId, rankInstances } from './routing.js';

let clock = 1_700_000_000_000;

function entry(id: string, options: { status?: ServiceStatus; scene?: string; where?: 'ipc' | 'local' | 'remote' } = {}): ServiceEntry {
  const where = options.where ?? 'local';
  const address: TransportAddress =
    where === 'ipc'
      ? { type: 'unix_socket', path: `/tmp/${id}.sock` }
      : { type: 'tcp', host: where === 'local' ? '127.0.0.1' : '203.0.113.7', port: 4000 };
  return {
    dccType: 'maya',
    instanceId: id,
    host: address.type === 'tcp' ? address.host : '127.0.0.1',
    port: address.type === 'tcp' ? address.port : 0,
    transportAddress: address,
    version: null,
    scene: options.scene ?? null,
    metadata: {},
    registeredAt: clock++,
    lastHeartbeat: clock,
    status: options.status ?? 'available',
    schemaVersion: 1,
  };
}

const ids = (entries: ServiceEntry[]): string[] => entries.map((e) => e.instanceId);

describe('ranking', () => {
  it('IPC before local TCP before remote TCP, available before busy, then oldest first', () => {
    const entries = [
      entry('remote-1', { where: 'remote' }),
      entry('local-busy', { status: 'busy' }),
      entry('local-1'),
      entry('ipc-busy', { where: 'ipc', status: 'busy' }),
      entry('ipc-1', { where: 'ipc' }),
      entry('local-2'),
    ];
    expect(ids(rankInstances(entries))).toEqual(['ipc-1', 'ipc-busy', 'local-1', 'local-2', 'local-busy', 'remote-1']);
  });

  it.each<ServiceStatus>(['unreachable', 'shutting_down', 'stale', 'booting'])('never picks a %s instance', (status) => {
    const entries = [entry('a', { status, where: 'ipc' }), entry('b', { status: 'busy', where: 'remote' })];
    expect(ids(rankInstances(entries))).toEqual(['b']);
    for (const strategy of ['first_available', 'round_robin', 'least_busy', 'random'] as const) {
      expect(new Router({ strategy }).pick('maya', entries).instanceId).toBe('b');
    }
    expect(() => new Router().pick('maya', entries, { instanceId: 'a' })).toThrow(ServiceNotFound);
    expect(() => new Router().pick('maya', [entry('x', { status })])).toThrow(`no live instance of maya can take calls (x ${status})`);
  });
});

describe('strategies', () => {
  const a = entry('aaaa1111-0000-4000-8000-000000000001', { scene: 'shot1.mb' });
  const b = entry('aaaa2222-0000-4000-8000-000000000002', { scene: 'shot2.mb' });
  const c = entry('bbbb3333-0000-4000-8000-000000000003', { scene: 'shot2.mb', where: 'remote' });
  const all = [c, b, a];

  const cases: Array<[string, (r: Router) => string[]]> = [
    ['first_available: best ranked', (r) => [r.pick('maya', all).instanceId]],
    ['round_robin: cycles through the ranked list', (r) => [1, 2, 3, 4].map(() => r.pick('maya', all, { strategy: 'round_robin' }).instanceId)],
    ['specific: full id', (r) => [r.pick('maya', all, { instanceId: c.instanceId }).instanceId]],
    ['specific: unique prefix', (r) => [r.pick('maya', all, { instanceId: 'bbbb' }).instanceId]],
    ['specific: case-insensitive prefix', (r) => [r.pick('maya', all, { instanceId: 'AAAA2' }).instanceId]],
    ['scene_match: best ranked with that scene', (r) => [r.pick('maya', all, { scene: 'shot2.mb' }).instanceId]],
  ];
  const expected: Record<string, string[]> = {
    'first_available: best ranked': [a.instanceId],
    'round_robin: cycles through the ranked list': [a.instanceId, b.instanceId, c.instanceId, a.instanceId],
    'specific: full id': [c.instanceId],
    'specific: unique prefix': [c.instanceId],
    'specific: case-insensitive prefix': [b.instanceId],
    'scene_match: best ranked with that scene': [b.instanceId],
  };

  it.each(cases)('%s', (name, run) => {
    expect(run(new Router())).toEqual(expected[name]);
  });

  it('least_busy: the instance with the fewest calls in flight, ties by rank', () => {
    const load = new Map([
      [a.instanceId, 3],
      [b.instanceId, 1],
      [c.instanceId, 1],
    ]);
    const router = new Router({ strategy: 'least_busy' });
    expect(router.pick('maya', all, {}, (e) => load.get(e.instanceId)!).instanceId).toBe(b.instanceId);
    load.set(b.instanceId, 5);
    expect(router.pick('maya', all, {}, (e) => load.get(e.instanceId)!).instanceId).toBe(c.instanceId);
  });

  it('random: uses the random source over the ranked list', () => {
    const picks = [0, 0.34, 0.67, 0.999].map((x) => new Router({ strategy: 'random', random: () => x }).pick('maya', all).instanceId);
    expect(picks).toEqual([a.instanceId, b.instanceId, c.instanceId, c.instanceId]);
  });

  it('order(): the chosen instance first, then the others in rank order', () => {
    const router = new Router({ strategy: 'round_robin' });
    router.pick('maya', all);
    expect(ids(router.order('maya', all))).toEqual([b.instanceId, a.instanceId, c.instanceId]);
  });

  it('round robin keeps one position per DCC type', () => {
    const router = new Router({ strategy: 'round_robin' });
    expect(router.pick('maya', all).instanceId).toBe(a.instanceId);
    expect(router.pick('houdini', all).instanceId).toBe(a.instanceId);
    expect(router.pick('maya', all).instanceId).toBe(b.instanceId);
  });

  it('an ambiguous prefix names the instances it matches', () => {
    expect(() => matchInstanceId('maya', all, 'aaaa')).toThrow(ServiceNotFound);
    expect(() => matchInstanceId('maya', all, 'aaaa')).toThrow(
      `instance id prefix "aaaa" of maya is ambiguous: it matches ${a.instanceId}, ${b.instanceId}`,
    );
    expect(() => matchInstanceId('maya', all, 'cccc')).toThrow('no live maya instance with id cccc');
    expect(() => matchInstanceId('maya', all, '')).toThrow(ServiceNotFound);
  });

  it('scene_match with no such scene, and an empty registry, are ServiceNotFound', () => {
    expect(() => new Router().pick('maya', all, { scene: 'other.mb' })).toThrow('no live instance of maya with scene "other.mb"');
    expect(() => new Router().pick('maya', [])).toThrow('no live instance of maya is registered');
  });

  it('specific and scene_match without their argument are programming errors', () => {
    expect(() => new Router().pick('maya', all, { strategy: 'specific' })).toThrow(InvalidOption);
    expect(() => new Router().pick('maya', all, { strategy: 'scene_match' })).toThrow(InvalidOption);
  });
});
