/**
 * Lines to stdout, fast: lines are gathered and written once per turn of the event
 * loop (a socket chunk carries hundreds of stream messages), and writing waits when
 * stdout is full, so a slow reader at the other end of a pipe holds the stream back
 * through flow control instead of growing our memory.
 */
import type { Writable } from 'node:stream';

const FLUSH_AT = 64 * 1024;

export class LineOutput {
  private chunks: string[] = [];
  private size = 0;
  private scheduled = false;
  private drained: Promise<void> | undefined;
  private gone = false;

  constructor(private readonly out: Writable = process.stdout) {
    // EPIPE: the reader went away (`| head`). Nothing more can be printed; say so.
    const onGone = (): void => {
      this.gone = true;
    };
    out.once('error', onGone);
    out.once('close', onGone);
  }

  /** True once stdout cannot take more (its reader closed the pipe). */
  get closed(): boolean {
    return this.gone || this.out.destroyed;
  }

  /** Queue one line; the returned promise (if any) says stdout is full: await it before more. */
  line(text: string): Promise<void> | undefined {
    this.chunks.push(text, '\n');
    this.size += text.length + 1;
    if (this.size >= FLUSH_AT) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return this.drained;
  }

  /** Write what is queued; resolves when stdout has taken it all. */
  async end(): Promise<void> {
    this.flush();
    await this.drained;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.size === 0 || this.closed) {
      this.chunks = [];
      this.size = 0;
      return;
    }
    const text = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    if (!this.out.write(text) && this.drained === undefined) {
      this.drained = new Promise<void>((resolve) => {
        const done = (): void => {
          this.out.off('drain', done);
          this.out.off('close', done);
          this.out.off('error', done);
          this.drained = undefined;
          resolve();
        };
        this.out.on('drain', done);
        this.out.on('close', done);
        this.out.on('error', done);
      });
    }
  }
}
