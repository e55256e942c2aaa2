/** A session's request counters (dcc-mcp-core's session statistics) and its last error. */
export class SessionStats {
  /** Calls and streams that finished, successfully or not. */
  requests = 0;
  errors = 0;
  /** Calls and streams in flight. */
  inFlight = 0;
  /** ms since the Unix epoch. */
  lastActivity = Date.now();
  /** Message of the last failed call or connection attempt. */
  lastError: string | undefined;
  private totalLatencyMs = 0;

  /** Mean latency of finished requests, ms (0 before the first). */
  get avgLatencyMs(): number {
    return this.requests === 0 ? 0 : this.totalLatencyMs / this.requests;
  }

  /** errors / requests (0 before the first). */
  get errorRate(): number {
    return this.requests === 0 ? 0 : this.errors / this.requests;
  }

  /** Counts a call or stream in flight until it ends, one way or the other; measures its latency. */
  begin(): { succeeded(): void; failed(error: unknown): void } {
    const started = performance.now();
    this.inFlight++;
    this.touch();
    return {
      succeeded: () => {
        this.inFlight--;
        this.success(performance.now() - started);
      },
      failed: (error) => {
        this.inFlight--;
        this.failure(performance.now() - started, error);
      },
    };
  }

  touch(): void {
    this.lastActivity = Date.now();
  }

  success(latencyMs: number): void {
    this.requests++;
    this.totalLatencyMs += latencyMs;
    this.touch();
  }

  failure(latencyMs: number, error: unknown): void {
    this.requests++;
    this.errors++;
    this.totalLatencyMs += latencyMs;
    this.touch();
    this.noteError(error);
  }

  /** Remembers `error` as the last error (`CODE: message` for wirecall's errors). */
  noteError(error: unknown): void {
    if (error instanceof Error) {
      this.lastError = 'code' in error && typeof error.code === 'string' ? `${error.code}: ${error.message}` : error.message;
    } else {
      this.lastError = String(error);
    }
  }
}
