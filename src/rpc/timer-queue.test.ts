import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../test-util/wait.js';
import { TimerQueue, type Timed } from './timer-queue.js';

// ------------------------------------------------------------------ helpers

class Entry implements Timed {
  heapIndex = -1;
  firedAt: number | undefined;
  fireCount = 0;

  constructor(
    public dueAt: number,
    readonly id: number,
    private readonly log: Entry[],
    private readonly onFire?: (self: Entry) => void,
  ) {}

  fire(): void {
    this.firedAt = Date.now();
    this.fireCount++;
    this.log.push(this);
    this.onFire?.(this);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));


/** Fired entries must come out by due time, each no earlier than its due time, each once. */
function expectFiredInOrder(fired: readonly Entry[]): void {
  for (let i = 1; i < fired.length; i++) {
    expect(fired[i]!.dueAt, `entry ${i} fired after a later-due one`).toBeGreaterThanOrEqual(fired[i - 1]!.dueAt);
  }
  for (const e of fired) {
    expect(e.firedAt!).toBeGreaterThanOrEqual(e.dueAt);
    expect(e.fireCount).toBe(1);
    expect(e.heapIndex).toBe(-1);
  }
}

let queues: TimerQueue[] = [];
function newQueue(): TimerQueue {
  const q = new TimerQueue();
  queues.push(q);
  return q;
}

const warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};

beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
});

afterEach(() => {
  process.off('warning', onWarning);
  for (const q of queues) q.clear();
  queues = [];
});

// ------------------------------------------------------------------ ordering

describe('TimerQueue firing order', () => {
  it('fires entries in due order, not insertion order', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const now = Date.now();
    const offsets = [25, 5, 15, 1, 30, 10, 5, 20, 1, 12];
    const entries = offsets.map((o, i) => new Entry(now + o, i, fired));
    for (const e of entries) q.add(e);
    expect(q.size).toBe(entries.length);
    await waitFor('all entries', () => fired.length === entries.length, 5_000, 2);
    expectFiredInOrder(fired);
    expect(new Set(fired)).toEqual(new Set(entries));
    expect(q.size).toBe(0);
  });

  it('fires entries already due right away, earliest first', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const now = Date.now();
    const entries = [50, 10, 30, 20, 40].map((ago, i) => new Entry(now - ago, i, fired));
    for (const e of entries) q.add(e);
    expect(fired).toHaveLength(0); // never from inside add()
    await waitFor('all entries', () => fired.length === 5, 5_000, 2);
    expect(fired.map((e) => e.id)).toEqual([0, 4, 2, 3, 1]);
  });

  it('re-arms for an earlier entry added after a later one', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const late = new Entry(Date.now() + 10_000, 0, fired);
    q.add(late);
    const soon = new Entry(Date.now() + 5, 1, fired);
    q.add(soon);
    await waitFor('the early entry', () => fired.length === 1, 5_000, 2);
    expect(fired).toEqual([soon]);
    expect(q.size).toBe(1);
    expect(late.fireCount).toBe(0);
  });

  it('lets an entry be added again after it fired', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const e = new Entry(Date.now() + 2, 0, fired);
    q.add(e);
    await waitFor('first firing', () => fired.length === 1, 5_000, 2);
    e.dueAt = Date.now() + 2;
    e.fireCount = 0;
    q.add(e);
    expect(q.size).toBe(1);
    await waitFor('second firing', () => fired.length === 2, 5_000, 2);
    expect(q.size).toBe(0);
  });
});

// ------------------------------------------------------------------ removal

describe('TimerQueue removal', () => {
  it('removing the first, a middle and the last entry keeps heap order', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const now = Date.now();
    const entries = [3, 9, 1, 14, 6, 20, 11, 17, 2, 8].map((o, i) => new Entry(now + 5 + o, i, fired));
    for (const e of entries) q.add(e);
    const byDue = [...entries].sort((a, b) => a.dueAt - b.dueAt);
    const first = byDue[0]!;
    const middle = byDue[5]!;
    const last = byDue.at(-1)!;
    for (const e of [first, middle, last]) {
      q.remove(e);
      expect(e.heapIndex).toBe(-1);
    }
    expect(q.size).toBe(entries.length - 3);
    await waitFor('the rest', () => fired.length === entries.length - 3, 5_000, 2);
    expectFiredInOrder(fired);
    expect(fired.map((e) => e.id)).toEqual(byDue.filter((e) => ![first, middle, last].includes(e)).map((e) => e.id));
    await sleep(10);
    for (const e of [first, middle, last]) expect(e.fireCount).toBe(0);
  });

  it('ignores removing an entry twice or one that was never added', () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const a = new Entry(Date.now() + 1000, 0, fired);
    const b = new Entry(Date.now() + 2000, 1, fired);
    const stranger = new Entry(Date.now() + 500, 2, fired);
    q.add(a);
    q.add(b);
    q.remove(a);
    q.remove(a);
    q.remove(stranger);
    expect(q.size).toBe(1);
    expect(b.heapIndex).toBe(0);
  });

  it('removing the only entry leaves nothing to fire', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const e = new Entry(Date.now() + 3, 0, fired);
    q.add(e);
    q.remove(e);
    expect(q.size).toBe(0);
    await sleep(20);
    expect(fired).toHaveLength(0);
  });

  it('an entry may remove a later one, or add a due one, while firing', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const now = Date.now();
    const victim = new Entry(now - 1, 1, fired);
    const added = new Entry(now - 100, 3, fired);
    const killer = new Entry(now - 5, 0, fired, () => {
      q.remove(victim);
      q.add(added);
    });
    const bystander = new Entry(now + 3, 2, fired);
    q.add(victim);
    q.add(killer);
    q.add(bystander);
    await waitFor('three firings', () => fired.length === 3, 5_000, 2);
    expect(fired.map((e) => e.id)).toEqual([0, 3, 2]);
    expect(victim.fireCount).toBe(0);
    expect(q.size).toBe(0);
  });

  it('property: random adds and removes fire exactly the remaining entries, in due order (due now+1..30 ms)', async () => {
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), offset: fc.integer({ min: 1, max: 30 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeFirst' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeLast' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeAgain' as const), pick: fc.nat() }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const q = newQueue();
        const fired: Entry[] = [];
        const model: Entry[] = []; // kept sorted by dueAt
        const removed: Entry[] = [];
        const base = Date.now();
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            const e = new Entry(base + o.offset, id++, fired);
            q.add(e);
            model.push(e);
            model.sort((a, b) => a.dueAt - b.dueAt);
          } else if (model.length > 0 && o.kind !== 'removeAgain') {
            const i = o.kind === 'removeFirst' ? 0 : o.kind === 'removeLast' ? model.length - 1 : o.pick % model.length;
            const [e] = model.splice(i, 1);
            q.remove(e!);
            removed.push(e!);
          } else if (o.kind === 'removeAgain' && removed.length > 0) {
            q.remove(removed[o.pick % removed.length]!);
          }
          expect(q.size).toBe(model.length);
        }
        await waitFor(`${model.length} firings`, () => fired.length >= model.length, 5_000, 2);
        await sleep(2); // anything extra (a removed entry) would fire by now, these are all due
        expect(q.size).toBe(0);
        expectFiredInOrder(fired);
        expect(fired.map((e) => e.dueAt)).toEqual(model.map((e) => e.dueAt));
        expect(new Set(fired)).toEqual(new Set(model));
        for (const e of removed) expect(e.fireCount).toBe(0);
      }),
      { numRuns: 40 },
    );
  });

  it('property: heap order holds after interleaved adds and removes (all already due, fired in one run)', async () => {
    const op = fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('add' as const), age: fc.integer({ min: 0, max: 100_000 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 300 }), async (ops) => {
        const q = newQueue();
        const fired: Entry[] = [];
        const base = Date.now();
        const live: Entry[] = []; // insertion order, so removals hit every heap position
        const removed: Entry[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            const e = new Entry(base - o.age, id++, fired);
            q.add(e);
            live.push(e);
          } else if (live.length > 0) {
            const [e] = live.splice(o.pick % live.length, 1);
            q.remove(e!);
            removed.push(e!);
          }
          expect(q.size).toBe(live.length);
        }
        expect(fired).toHaveLength(0);
        await waitFor(`${live.length} firings`, () => fired.length >= live.length, 5_000, 2);
        await sleep(1);
        expect(fired.map((e) => e.dueAt)).toEqual(live.map((e) => e.dueAt).sort((a, b) => a - b));
        expect(new Set(fired)).toEqual(new Set(live));
        for (const e of removed) expect(e.fireCount).toBe(0);
        expect(q.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('moves the replacement up when a removal puts a small last entry under a larger parent', async () => {
    // Heap after these adds: [1, 10, 2, 11, 12, 3, 5]. Removing 11 moves 5 under 10, which
    // must sift up; 20 and 21 then keep it from being the last entry again.
    const q = newQueue();
    const fired: Entry[] = [];
    const base = Date.now() - 100;
    const byDue = new Map<number, Entry>();
    for (const d of [1, 10, 2, 11, 12, 3, 5]) {
      const e = new Entry(base + d, d, fired);
      byDue.set(d, e);
      q.add(e);
    }
    q.remove(byDue.get(11)!);
    for (const d of [20, 21]) q.add(new Entry(base + d, d, fired));
    await waitFor('eight firings', () => fired.length === 8, 5_000, 2);
    expect(fired.map((e) => e.id)).toEqual([1, 2, 3, 5, 10, 12, 20, 21]);
  });
});

// ------------------------------------------------------------------ clear

describe('TimerQueue clear()', () => {
  it('fires nothing and empties the queue', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const now = Date.now();
    const entries = Array.from({ length: 20 }, (_, i) => new Entry(now + 1 + (i % 15), i, fired));
    entries.push(new Entry(now - 10, 99, fired)); // even one already due
    for (const e of entries) q.add(e);
    q.clear();
    expect(q.size).toBe(0);
    for (const e of entries) expect(e.heapIndex).toBe(-1);
    await sleep(50);
    expect(fired).toHaveLength(0);
  });

  it('leaves the queue usable', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    q.add(new Entry(Date.now() + 1, 0, fired));
    q.clear();
    const e = new Entry(Date.now() + 3, 1, fired);
    q.add(e);
    await waitFor('the new entry', () => fired.length === 1, 5_000, 2);
    expect(fired).toEqual([e]);
  });
});

// ------------------------------------------------------------------ far deadlines

describe('TimerQueue far deadlines', () => {
  it('a deadline beyond 2^31 ms neither fires early nor throws nor warns', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const far = [2 ** 31 + 1000, 2 ** 32, 2 ** 40, 365 * 24 * 3600 * 1000 * 100].map((d, i) => new Entry(Date.now() + d, i, fired));
    for (const e of far) expect(() => q.add(e)).not.toThrow();
    expect(q.size).toBe(far.length);
    await sleep(50);
    expect(fired).toHaveLength(0);
    expect(q.size).toBe(far.length);
    expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
  });

  it('near entries still fire on time next to a far one, and the far one stays', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const far = new Entry(Date.now() + 2 ** 31 + 5000, 0, fired);
    q.add(far);
    const near = [3, 8, 1].map((o, i) => new Entry(Date.now() + o, i + 1, fired));
    for (const e of near) q.add(e);
    await waitFor('the near entries', () => fired.length === 3, 5_000, 2);
    expectFiredInOrder(fired);
    await sleep(30);
    expect(far.fireCount).toBe(0);
    expect(q.size).toBe(1);
    q.remove(far);
    expect(q.size).toBe(0);
    expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
  });

  it('an infinite deadline is accepted and never fires', async () => {
    const q = newQueue();
    const fired: Entry[] = [];
    const never = new Entry(Infinity, 0, fired);
    expect(() => q.add(never)).not.toThrow();
    const soon = new Entry(Date.now() + 2, 1, fired);
    q.add(soon);
    await waitFor('the finite entry', () => fired.length === 1, 5_000, 2);
    await sleep(20);
    expect(fired).toEqual([soon]);
    expect(q.size).toBe(1);
    expect(warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning');
  });
});
