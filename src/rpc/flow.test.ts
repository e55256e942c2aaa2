import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GrowthBudget, InboundQueue, SendCredit, type Window } from './flow.js';

/**
 * A sender and a receiver joined by two in-memory queues (data one way, credit the
 * other), driven by fast-check through arbitrary interleavings of: the producer
 * writing, the wire delivering either way, the consumer reading.
 */
describe('stream flow control (sender + receiver, arbitrary interleavings)', () => {
  it('never overruns the window, delivers everything in order, and never deadlocks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ messages: fc.integer({ min: 1, max: 8 }), bytes: fc.integer({ min: 1, max: 64 }) }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.constantFrom('write', 'data', 'credit', 'read'), { maxLength: 300 }),
        async (window: Window, sizes: number[], steps: string[]) => {
          const wire: Array<{ index: number; size: number }> = [];
          const back: Array<[number, number]> = [];
          const frames = new Map<Buffer, number>();
          const queue = new InboundQueue<number>(window, { grant: (m, b) => back.push([m, b]), abandon: () => {} });
          const credit = new SendCredit(window, (frame) => wire.push({ index: frames.get(frame)!, size: sizes[frames.get(frame)!]! }));
          let written = 0;
          const read: number[] = [];
          let maxBuffered = 0;
          let maxBufferedBytes = 0;
          let bufferedBytes = 0;
          const deliver = (): void => {
            const f = wire.shift()!;
            expect(queue.push(f.index, f.size)).toBe(true); // the sender never exceeds its credit
            bufferedBytes += f.size;
            maxBuffered = Math.max(maxBuffered, queue.buffered);
            maxBufferedBytes = Math.max(maxBufferedBytes, bufferedBytes);
          };
          const readOne = async (): Promise<void> => {
            const r = await queue.next();
            read.push(r.value as number);
            bufferedBytes -= sizes[r.value as number]!;
          };
          for (const step of steps) {
            if (step === 'write' && written < sizes.length) {
              const frame = Buffer.from([written]);
              frames.set(frame, written);
              void credit.send(frame, sizes[written]!);
              written++;
            } else if (step === 'data' && wire.length > 0) deliver();
            else if (step === 'credit' && back.length > 0) credit.grant(...back.shift()!);
            else if (step === 'read' && queue.buffered > 0) await readOne();
          }
          // Drain: write the rest, then keep the pipes moving until everything arrived.
          while (written < sizes.length) {
            const frame = Buffer.from([written]);
            frames.set(frame, written);
            void credit.send(frame, sizes[written]!);
            written++;
          }
          for (let rounds = 0; read.length < sizes.length; rounds++) {
            if (rounds > 10_000) throw new Error(`deadlock: read ${read.length} of ${sizes.length}`);
            while (wire.length > 0) deliver();
            while (queue.buffered > 0) await readOne();
            while (back.length > 0) credit.grant(...back.shift()!);
          }
          expect(read).toEqual(sizes.map((_, i) => i));
          expect(maxBuffered).toBeLessThanOrEqual(window.messages);
          // A message may overshoot the byte window once: a window plus one message at most.
          expect(maxBufferedBytes).toBeLessThan(window.bytes + Math.max(...sizes));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with a growing window: the sender still never overruns it, the window stays within its limit, nothing is lost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ messages: fc.integer({ min: 1, max: 8 }), bytes: fc.integer({ min: 1, max: 64 }) }),
        fc.record({ messages: fc.integer({ min: 1, max: 4 }), bytes: fc.integer({ min: 1, max: 8 }) }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.constantFrom('write', 'data', 'credit', 'read'), { maxLength: 300 }),
        async (window: Window, factor: Window, sizes: number[], steps: string[]) => {
          const limit = { messages: window.messages * factor.messages, bytes: window.bytes * factor.bytes };
          const wire: Array<{ index: number; size: number }> = [];
          const back: Array<[number, number]> = [];
          const frames = new Map<Buffer, number>();
          const queue = new InboundQueue<number>(window, { grant: (m, b) => back.push([m, b]), abandon: () => {} }, limit);
          const credit = new SendCredit(window, (frame) => wire.push({ index: frames.get(frame)!, size: sizes[frames.get(frame)!]! }));
          let written = 0;
          const read: number[] = [];
          // A read may start on an empty queue and wait: that is what lets the window grow.
          let reading: Promise<void> | undefined;
          const startRead = (): void => {
            reading ??= queue.next().then((r) => {
              read.push(r.value as number);
              reading = undefined;
            });
          };
          const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
          const deliver = (): void => {
            const f = wire.shift()!;
            expect(queue.push(f.index, f.size)).toBe(true); // the sender never exceeds its credit
            const w = queue.currentWindow;
            expect(w.messages).toBeLessThanOrEqual(limit.messages);
            expect(w.bytes).toBeLessThanOrEqual(limit.bytes);
            expect(queue.buffered).toBeLessThanOrEqual(w.messages);
          };
          const write = (): void => {
            const frame = Buffer.from([written]);
            frames.set(frame, written);
            void credit.send(frame, sizes[written]!);
            written++;
          };
          for (const step of steps) {
            if (step === 'write' && written < sizes.length) write();
            else if (step === 'data' && wire.length > 0) deliver();
            else if (step === 'credit' && back.length > 0) credit.grant(...back.shift()!);
            else if (step === 'read') startRead();
            await settle();
          }
          while (written < sizes.length) write();
          for (let rounds = 0; read.length < sizes.length; rounds++) {
            if (rounds > 10_000) throw new Error(`deadlock: read ${read.length} of ${sizes.length}`);
            while (wire.length > 0) deliver();
            startRead();
            await settle();
            while (back.length > 0) credit.grant(...back.shift()!);
          }
          expect(read).toEqual(sizes.map((_, i) => i));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('grows the window when the consumer waited, by doubling, up to the limit', async () => {
    const grants: Array<[number, number]> = [];
    const q = new InboundQueue<number>({ messages: 4, bytes: 400 }, { grant: (m, b) => grants.push([m, b]), abandon: () => {} }, { messages: 4, bytes: 1000 });
    const waitedFor = async (value: number): Promise<void> => {
      const next = q.next(); // nothing buffered: the consumer waits
      expect(q.push(value, 100)).toBe(true);
      expect((await next).value).toBe(value);
    };
    await waitedFor(1);
    await waitedFor(2); // 200 bytes consumed = half the window: grant 200, plus 400 to double it
    expect(grants).toEqual([[2, 600]]);
    expect(q.currentWindow).toEqual({ messages: 4, bytes: 800 });
    await waitedFor(3);
    await waitedFor(4); // half the messages window: grant 200, plus 200 to reach the limit
    await waitedFor(5);
    await waitedFor(6); // at the limit: what was consumed, no more
    expect(grants).toEqual([[2, 600], [2, 400], [2, 200]]);
    expect(q.currentWindow).toEqual({ messages: 4, bytes: 1000 });
  });

  it('streams grow out of a shared budget, and give back what they took when they end', async () => {
    const budget = new GrowthBudget(500);
    const grants: Array<[string, number, number]> = [];
    const queue = (name: string): InboundQueue<number> =>
      new InboundQueue<number>({ messages: 4, bytes: 400 }, { grant: (m, b) => grants.push([name, m, b]), abandon: () => {} }, { messages: 4, bytes: 4000 }, budget);
    const a = queue('a');
    const b = queue('b');
    const waitedFor = async (q: InboundQueue<number>): Promise<void> => {
      const next = q.next();
      expect(q.push(0, 100)).toBe(true);
      await next;
    };
    await waitedFor(a);
    await waitedFor(a); // a doubles: 400 of the 500
    await waitedFor(b);
    await waitedFor(b); // b wants 400, 100 are left
    expect(grants).toEqual([
      ['a', 2, 200 + 400],
      ['b', 2, 200 + 100],
    ]);
    expect(budget.remaining).toBe(0);
    expect(b.currentWindow.bytes).toBe(500);
    a.end(); // a's direction is over: its 400 go back
    expect(budget.remaining).toBe(400);
    await waitedFor(b);
    await waitedFor(b); // b wants 500 more (to 1000); 400 are left
    expect(grants.at(-1)).toEqual(['b', 2, 200 + 400]);
    expect(b.currentWindow.bytes).toBe(900);
    await b.return(); // the reader left: its 500 go back
    expect(budget.remaining).toBe(500);
  });

  it('does not grow the window for a consumer that never waited', async () => {
    const grants: Array<[number, number]> = [];
    const q = new InboundQueue<number>({ messages: 4, bytes: 400 }, { grant: (m, b) => grants.push([m, b]), abandon: () => {} }, { messages: 64, bytes: 1 << 20 });
    for (let i = 0; i < 4; i++) expect(q.push(i, 100)).toBe(true);
    expect(q.push(4, 100)).toBe(false); // the sender had only the initial window
    for (let i = 0; i < 4; i++) expect((await q.next()).value).toBe(i);
    expect(grants).toEqual([[2, 200], [2, 200]]);
    expect(q.currentWindow).toEqual({ messages: 4, bytes: 400 });
  });

  it('a message larger than the whole window still goes, alone', async () => {
    const sent: Buffer[] = [];
    const credit = new SendCredit({ messages: 10, bytes: 100 }, (f) => sent.push(f));
    await credit.send(Buffer.from('a'), 1000);
    expect(sent).toHaveLength(1);
    let second = false;
    void credit.send(Buffer.from('b'), 1).then(() => (second = true));
    await Promise.resolve();
    expect(second).toBe(false);
    credit.grant(1, 1000);
    await Promise.resolve();
    expect(second).toBe(true);
  });

  it('sendLast goes after queued writes and spends no credit', () => {
    const sent: string[] = [];
    const credit = new SendCredit({ messages: 1, bytes: 100 }, (f) => sent.push(f.toString()));
    void credit.send(Buffer.from('m1'), 10);
    void credit.send(Buffer.from('m2'), 10);
    credit.sendLast(Buffer.from('end'));
    expect(sent).toEqual(['m1']);
    credit.grant(1, 10);
    expect(sent).toEqual(['m1', 'm2', 'end']);
  });

  it('fail() rejects queued writes and a pending ready()', async () => {
    const credit = new SendCredit({ messages: 1, bytes: 1 }, () => {});
    await credit.send(Buffer.from('x'), 1);
    const queued = credit.send(Buffer.from('y'), 1);
    const err = new Error('gone');
    credit.fail(err);
    await expect(queued).rejects.toBe(err);
    await expect(credit.ready()).rejects.toBe(err);
    await expect(credit.send(Buffer.from('z'), 1)).rejects.toBe(err);
  });

  it('the consumer sees the error or the end only after every buffered message', async () => {
    const q = new InboundQueue<number>({ messages: 10, bytes: 100 }, { grant: () => {}, abandon: () => {} });
    q.push(1, 1);
    q.push(2, 1);
    q.fail(new Error('late'));
    expect((await q.next()).value).toBe(1);
    expect((await q.next()).value).toBe(2);
    await expect(q.next()).rejects.toThrow('late');
    const e = new InboundQueue<number>({ messages: 10, bytes: 100 }, { grant: () => {}, abandon: () => {} });
    e.push(7, 1);
    e.end();
    expect(await e.next()).toEqual({ value: 7, done: false });
    expect((await e.next()).done).toBe(true);
  });

  it('return() abandons: the sink hears it once, buffered credit is given back, later messages are dropped', async () => {
    const grants: Array<[number, number]> = [];
    let abandoned = 0;
    const q = new InboundQueue<number>({ messages: 100, bytes: 1000 }, { grant: (m, b) => grants.push([m, b]), abandon: () => abandoned++ });
    q.push(1, 10);
    q.push(2, 20);
    await q.return();
    await q.return();
    expect(abandoned).toBe(1);
    expect(grants).toEqual([[2, 30]]);
    expect(q.push(3, 5)).toBe(true);
    expect(q.buffered).toBe(0);
    expect((await q.next()).done).toBe(true);
  });

  it('push() reports a sender that overran its credit', () => {
    const q = new InboundQueue<number>({ messages: 2, bytes: 1000 }, { grant: () => {}, abandon: () => {} });
    expect(q.push(1, 1)).toBe(true);
    expect(q.push(2, 1)).toBe(true);
    expect(q.push(3, 1)).toBe(false);
  });
});
