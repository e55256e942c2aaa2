/**
 * Typed contracts. The type assertions are checked by `tsc --noEmit` (part of
 * `npm test`); the runtime part checks that a typed server and client really talk.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { connect, createServer, type Connection } from '../index.js';
import { tempSocket } from '../test-util/rpc-server.js';
import { Scratch } from '../test-util/scratch.js';

interface Calculator {
  add(p: { a: number; b: number }): number;
  now(): string;
  scale(p?: { by: number }): Promise<number>;
}

interface Ui {
  progress(p: { done: number }): void;
}

const scratch = new Scratch();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
  await scratch.cleanup();
});

describe('typed contracts', () => {
  it('type-checks method names, params and results on both sides', async () => {
    const sock = tempSocket(scratch);
    const server = createServer<Calculator, Ui>({ heartbeatInterval: 0 });
    const progress: number[] = [];
    server.implement({
      add: async ({ a, b }, ctx) => {
        ctx.connection.notify('progress', { done: 1 });
        // @ts-expect-error: the client contract has no such method
        expectTypeOf(ctx.connection.notify).toBeCallableWith('nope', { done: 1 });
        return a + b;
      },
      now: () => 'noon',
      scale: async (p) => 10 * (p?.by ?? 1),
    });
    // @ts-expect-error: not a method of Calculator (it still registers at run time)
    server.register('divide', () => 0);
    const url = await server.listen(sock.endpoint);
    cleanups.push(() => server.close());

    const conn: Connection<Calculator, Ui> = await connect<Calculator, Ui>(url, {
      heartbeatInterval: 0,
      // Typed from our own contract (Ui): `p` is { done: number }.
      handlers: {
        progress: (p) => {
          expectTypeOf(p).toEqualTypeOf<{ done: number }>();
          progress.push(p.done);
        },
      },
    });
    // Handlers outside our contract, or of the wrong shape, do not compile.
    // @ts-expect-error: not a method of Ui
    void connect<Calculator, Ui>(url, { handlers: { nope: () => 1 } }).then((c) => c.close(), () => {});
    // @ts-expect-error: progress takes { done: number }
    void connect<Calculator, Ui>(url, { handlers: { progress: (p: { done: string }) => p } }).then((c) => c.close(), () => {});
    cleanups.push(() => conn.close());

    const sum = await conn.call('add', { a: 1, b: 2 });
    expectTypeOf(sum).toEqualTypeOf<number>();
    expect(sum).toBe(3);

    const now = await conn.call('now');
    expectTypeOf(now).toEqualTypeOf<string>();
    expect(now).toBe('noon');

    expect(await conn.call('scale')).toBe(10);
    expect(await conn.call('scale', { by: 3 }, { timeout: 1000 })).toBe(30);

    // Wrong names and params do not compile; the calls still fail cleanly at run time.
    // @ts-expect-error: unknown method
    await expect(conn.call('modulo', { a: 1 })).rejects.toThrow('method not found');
    // @ts-expect-error: params of the wrong shape
    await expect(conn.call('add', { a: 'x' })).resolves.toBe('xundefined');
    await expect.poll(() => progress).toEqual([1, 1]);
  });

  it('leaves untyped connections open to any method', async () => {
    expectTypeOf<Connection['call']>().parameter(0).toEqualTypeOf<string>();
    type Result = Awaited<ReturnType<Connection['call']>>;
    // `0 extends 1 & T` holds only when T is any.
    const resultIsAny: 0 extends 1 & Result ? true : false = true;
    expect(resultIsAny).toBe(true);
  });
});
