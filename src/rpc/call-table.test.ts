import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallTable } from './call-table.js';

type Entry = { readonly id: number; readonly tag: number };

describe('CallTable behaves like a Map keyed by id', () => {
  it('for any sequence of set, delete, get and clear', () => {
    const id = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff_ffff }));
    const op = fc.oneof(
      fc.tuple(fc.constant('set' as const), id, fc.integer()),
      fc.tuple(fc.constant('delete' as const), id, fc.constant(0)),
      fc.tuple(fc.constant('get' as const), id, fc.constant(0)),
      fc.tuple(fc.constant('clear' as const), fc.constant(0), fc.constant(0)),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 2000 }), (ops) => {
        const table = new CallTable<Entry>();
        const model = new Map<number, Entry>();
        for (const [kind, key, tag] of ops) {
          if (kind === 'set') {
            const e = { id: key, tag };
            table.set(key, e);
            model.set(key, e);
          } else if (kind === 'delete') expect(table.delete(key)).toBe(model.delete(key));
          else if (kind === 'get') expect(table.get(key)).toBe(model.get(key));
          else {
            table.clear();
            model.clear();
          }
          expect(table.size).toBe(model.size);
        }
        const byId = (a: Entry, b: Entry): number => a.id - b.id;
        expect(table.values().sort(byId)).toEqual([...model.values()].sort(byId));
        for (const key of model.keys()) expect(table.has(key)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('holds 10,000 sequential ids in flight, then empties', () => {
    const table = new CallTable<Entry>();
    for (let i = 1; i <= 10_000; i++) table.set(i, { id: i, tag: i });
    expect(table.size).toBe(10_000);
    for (let i = 1; i <= 10_000; i++) expect(table.get(i)?.tag).toBe(i);
    for (let i = 1; i <= 10_000; i++) expect(table.delete(i)).toBe(true);
    expect(table.size).toBe(0);
    expect(table.values()).toEqual([]);
  });
});
