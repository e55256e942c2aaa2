/** Line splitting for a child's stdout and stderr, and a bounded tail of recent lines. */
import type { Readable } from 'node:stream';

/** Longest line kept whole; a longer one is cut here (and the rest of it dropped). */
export const MAX_LINE = 64 * 1024;

/**
 * Calls `onLine` with each line of `stream` (without its `\n` or `\r\n`); a last line
 * without a newline is delivered at the end. Calls `onEnd` once the stream is done.
 */
export function readLines(stream: Readable, onLine: (line: string) => void, onEnd: () => void = () => {}): void {
  let pending = '';
  let dropping = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      start = nl + 1;
      if (dropping) {
        dropping = false;
        continue;
      }
      const line = pending + piece;
      pending = '';
      onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    if (dropping) return;
    pending += chunk.slice(start);
    if (pending.length > MAX_LINE) {
      onLine(pending.slice(0, MAX_LINE));
      pending = '';
      dropping = true;
    }
  });
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    if (pending !== '') onLine(pending);
    pending = '';
    onEnd();
  };
  stream.on('end', end);
  stream.on('close', end);
  stream.on('error', end);
}

/** The last `size` lines seen. */
export class LineTail {
  private readonly lines: string[] = [];
  constructor(private readonly size: number) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }
  snapshot(): string[] {
    return [...this.lines];
  }
}
