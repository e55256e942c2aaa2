import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InboundQueue, SendCredit, type Window } from './flow.js';

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
