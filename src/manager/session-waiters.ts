/**
 * Calls waiting for a session to change state (to get a connection back), each within
 * its own deadline and AbortSignal. The session wakes them all at every change; each
 * looks again and waits again if it must.
 */
import { CallCancelled, DeadlineExceeded } from '../errors.js';

export class SessionWaiters {
  private readonly waiting = new Set<() => void>();

  /** Calls waiting now. */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * Resolves at the next wakeAll(). Rejects with DeadlineExceeded at `deadline` (ms
   * since the epoch) and with CallCancelled when `signal` aborts; `where()` says in
   * those messages what the session was doing.
   */
  next(method: string, deadline: number | undefined, signal: AbortSignal | undefined, where: () => string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new CallCancelled(`call ${method} cancelled`, { cause: signal.reason }));
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        this.waiting.delete(wake);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const wake = (): void => {
        done();
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(new CallCancelled(`call ${method} cancelled while ${where()}`, { cause: signal?.reason }));
      };
      this.waiting.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (deadline !== undefined) {
        timer = setTimeout(() => {
          done();
          reject(new DeadlineExceeded(`call ${method} exceeded its deadline while ${where()}`));
        }, Math.max(0, deadline - Date.now()));
      }
    });
  }

  wakeAll(): void {
    for (const wake of [...this.waiting]) wake();
  }
}
