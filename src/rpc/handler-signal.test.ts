import { describe, expect, it } from 'vitest';
import { HandlerSignal } from './handler-signal.js';

class Ctx extends HandlerSignal {
  abort(reason: unknown): void {
    this.abortSignal(reason);
  }
}

describe('HandlerSignal', () => {
  it('a signal asked for before the abort is aborted with the reason', () => {
    const ctx = new Ctx();
    const signal = ctx.signal;
    let heard: unknown;
    signal.addEventListener('abort', () => (heard = signal.reason));
    expect(signal.aborted).toBe(false);
    const reason = new Error('gone');
    ctx.abort(reason);
    expect(signal.aborted).toBe(true);
    expect(heard).toBe(reason);
    expect(ctx.signal).toBe(signal);
  });

  it('a signal first asked for after the abort is already aborted, with the same reason, and stays the same object', () => {
    const ctx = new Ctx();
    const reason = new Error('cut');
    ctx.abort(reason);
    const signal = ctx.signal;
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
    expect(ctx.signal).toBe(signal);
  });

  it('only the first reason counts, whether or not the signal was asked for', () => {
    const early = new Ctx();
    early.abort('first');
    early.abort('second');
    expect(early.signal.reason).toBe('first');
    const late = new Ctx();
    const signal = late.signal;
    late.abort('first');
    late.abort('second');
    expect(signal.reason).toBe('first');
  });

  it('an undefined reason still aborts (AbortSignal then gives its own AbortError)', () => {
    const ctx = new Ctx();
    ctx.abort(undefined);
    expect(ctx.signal.aborted).toBe(true);
    expect((ctx.signal.reason as Error).name).toBe('AbortError');
  });
});
