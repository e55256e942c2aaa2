/**
 * A stream opened through a Session. The session may be reconnecting when the stream
 * is asked for, so the real stream opens once a connection is usable; until then this
 * wrapper queues writes, `end()` and `cancel()` in order, and iteration waits. Callers
 * use it exactly like a stream opened on a Connection.
 */
import type { BidiStream, ClientStream, ServerStream, StreamState } from '../rpc/contract.js';

type AnyStream = ServerStream<unknown> & ClientStream<unknown, unknown> & BidiStream<unknown, unknown>;

export class SessionStream implements ServerStream<unknown>, ClientStream<unknown, unknown>, BidiStream<unknown, unknown> {
  private real: AnyStream | undefined = undefined;
  private failed = false;

  constructor(private readonly opening: Promise<AnyStream>) {
    opening.then(
      (stream) => (this.real = stream),
      () => (this.failed = true),
    );
  }

  /** 0 until the stream is open on a connection. */
  get id(): number {
    return this.real?.id ?? 0;
  }

  get state(): StreamState {
    return this.real?.state ?? (this.failed ? 'closed' : 'open');
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    let inner: AsyncIterator<unknown> | undefined;
    const opening = this.opening;
    return {
      next: async () => {
        inner ??= (await opening)[Symbol.asyncIterator]();
        return inner.next();
      },
      return: async () => {
        if (inner?.return !== undefined) return inner.return();
        this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  async write(message: unknown): Promise<void> {
    return (await this.opening).write(message);
  }

  end(): void {
    if (this.real !== undefined) this.real.end();
    else this.opening.then((s) => s.end(), () => {});
  }

  cancel(reason?: unknown): void {
    if (this.real !== undefined) this.real.cancel(reason);
    else this.opening.then((s) => s.cancel(reason), () => {});
  }

  get result(): Promise<unknown> {
    return this.opening.then((s) => s.result);
  }
}
