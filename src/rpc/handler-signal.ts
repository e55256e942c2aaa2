/**
 * The `ctx.signal` of a call or stream handler, made only when the handler asks for it.
 * Most handlers never look, and a Node AbortController costs about a kilobyte; a
 * connection that is cut with a thousand calls running would otherwise make a thousand
 * of them just to abort them. A handler that first looks after the abort (after an
 * await, in a `finally`) gets a signal that is already aborted, with the same reason.
 */
export class HandlerSignal {
  private controller: AbortController | undefined = undefined;
  private made: AbortSignal | undefined = undefined;
  private abortedWith: { reason: unknown } | undefined = undefined;

  get signal(): AbortSignal {
    if (this.made !== undefined) return this.made;
    if (this.abortedWith !== undefined) return (this.made = AbortSignal.abort(this.abortedWith.reason));
    this.controller = new AbortController();
    return (this.made = this.controller.signal);
  }

  /** Abort the signal (now if it exists, else when it is first asked for); only the first reason counts. */
  protected abortSignal(reason: unknown): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    else this.abortedWith ??= { reason };
  }
}
