/**
 * Counts the calls and streams a connection refused because the peer was over its
 * concurrency limit, in one-second windows. A peer is told with each refusal; one that
 * keeps calling regardless is flooding, and answering it RESOURCE_EXHAUSTED forever
 * costs us a frame per call. Allowing a full limit's worth per second leaves room for a
 * well-meaning client whose calls were already on the wire when the first refusal left.
 */
export class RefusalMeter {
  private windowStart = 0;
  private count = 0;

  constructor(private readonly perSecond: number) {}

  /** Note one refusal at `now` (ms); true once this second's count passes the limit. */
  note(now: number): boolean {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count > this.perSecond;
  }
}
