/**
 * Per-stream flow control, both halves, without sockets.
 *
 * The receiver grants a window of credit in messages and bytes; the sender may send a
 * message while it holds at least one message and one byte of credit (so a message
 * larger than the whole window still goes, alone), and spends one message and the
 * frame's payload size. The receiver gives credit back as its consumer takes messages,
 * in batches of half a window. Both sides do the same arithmetic, so the receiver can
 * tell a sender that overran its credit, and never buffers more than a window plus
 * one message per stream.
 *
 * The receiver may grow its window up to a limit: when its consumer had to wait for a
 * message since the last grant, the window (not the consumer) was what held the stream
 * back, so the next grant adds enough to double it. A consumer that keeps up holds
 * little whatever the window; one that falls behind stops the growth, and then holds
 * at most the window reached. A 64 KiB-chunk stream over TCP ran at 0.68 of a raw
 * socket's speed in a fixed 256 KiB window, 0.91 in one grown to 4 MiB
 * (docs/PERFORMANCE.md). The streams of one connection grow out of a shared
 * GrowthBudget, so many streams cannot each reach the limit at once.
 */

import { InvalidOption } from '../errors.js';

/** How far a stream's byte window grows by default (a local choice, never on the wire). */
export const DEFAULT_MAX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** How far all stream windows of one connection grow together, by default. */
export const DEFAULT_MAX_STREAM_WINDOW_GROWTH = 16 * 1024 * 1024;

export interface Window {
  messages: number;
  bytes: number;
}

/** What an InboundQueue needs from its stream. */
export interface InboundSink {
  /** Return credit to the sender. */
  grant(messages: number, bytes: number): void;
  /** The consumer stopped iterating before the end (`break` in `for await`). */
  abandon(): void;
}

/**
 * Bytes by which the windows of all streams of one connection may grow, together. A
 * stream takes what it grows by and gives it back when its direction ends.
 */
export class GrowthBudget {
  constructor(private available: number) {}

  get remaining(): number {
    return this.available;
  }

  /** Up to `wanted` bytes, as many as are left. */
  take(wanted: number): number {
    const n = Math.max(0, Math.min(wanted, this.available));
    this.available -= n;
    return n;
  }

  give(bytes: number): void {
    this.available += bytes;
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * The receiving half: messages from the peer, read with `for await`. Never blocks the
 * connection's reader: messages within credit are buffered, the consumer takes them
 * at its own pace.
 */
export class InboundQueue<T> implements AsyncIterableIterator<T> {
  private values: T[] = [];
  private sizes: number[] = [];
  private head = 0;
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private ended = false;
  private error: unknown = undefined;
  private failed = false;
  /** Set when the consumer left: later messages are dropped and their credit returned at once. */
  private abandoned = false;
  /** Credit the sender still holds. */
  private creditMessages: number;
  private creditBytes: number;
  /** Consumed but not yet granted back. */
  private owedMessages = 0;
  private owedBytes = 0;
  /** The window now: starts at the initial one, grows up to `limit`. */
  private readonly window: Window;
  private readonly limit: Window;
  /** The consumer waited for a message since the last grant. */
  private starved = false;
  /** Bytes this window grew by, taken from `budget`. */
  private grownBytes = 0;

  /**
   * `limit`: how far the window may grow (default: it stays at `window`); `budget`: what
   * the byte growth is taken from (default: no cap beyond `limit`).
   */
  constructor(
    window: Window,
    private readonly sink: InboundSink,
    limit: Window = window,
    private readonly budget?: GrowthBudget,
  ) {
    this.window = { ...window };
    this.limit = { messages: Math.max(window.messages, limit.messages), bytes: Math.max(window.bytes, limit.bytes) };
    this.creditMessages = window.messages;
    this.creditBytes = window.bytes;
  }

  /** The current window (for tests and diagnostics). */
  get currentWindow(): Readonly<Window> {
    return this.window;
  }

  /** Messages buffered and not yet read. */
  get buffered(): number {
    return this.values.length - this.head;
  }

  /**
   * A message arrived. Returns false if the sender had no credit for it (a protocol
   * violation the connection deals with).
   */
  push(value: T, size: number): boolean {
    if (this.creditMessages <= 0 || this.creditBytes <= 0) return false;
    this.creditMessages--;
    this.creditBytes -= size;
    if (this.ended || this.failed) return true;
    if (this.abandoned) {
      this.consumed(size);
      return true;
    }
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      this.consumed(size);
      waiting.resolve({ value, done: false });
      return true;
    }
    this.values.push(value);
    this.sizes.push(size);
    return true;
  }

  /** The sender is done: the consumer sees the end after the buffered messages. */
  end(): void {
    if (this.ended || this.failed) return;
    this.ended = true;
    this.releaseGrowth();
    if (this.waiting !== undefined && this.buffered === 0) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting.resolve(DONE);
    }
  }

  /** The stream failed: the consumer gets `error` after the buffered messages. */
  fail(error: unknown): void {
    if (this.ended || this.failed) return;
    this.failed = true;
    this.error = error;
    this.releaseGrowth();
    if (this.waiting !== undefined && this.buffered === 0) {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting.reject(error);
    }
  }

  /** Drop what is buffered (the stream is gone and nobody will read it). */
  discard(): void {
    this.releaseGrowth();
    this.values = [];
    this.sizes = [];
    this.head = 0;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.values.length) {
      const value = this.values[this.head]!;
      const size = this.sizes[this.head]!;
      this.values[this.head] = undefined as T; // let it be collected
      this.head++;
      if (this.head === this.values.length) {
        this.values.length = 0;
        this.sizes.length = 0;
        this.head = 0;
      } else if (this.head >= 1024 && this.head * 2 >= this.values.length) {
        this.values = this.values.slice(this.head);
        this.sizes = this.sizes.slice(this.head);
        this.head = 0;
      }
      if (!this.abandoned) this.consumed(size);
      return Promise.resolve({ value, done: false });
    }
    if (this.failed) return Promise.reject(this.error);
    if (this.ended || this.abandoned) return Promise.resolve(DONE);
    if (this.waiting !== undefined) return Promise.reject(new InvalidOption('next() called again before the previous call settled'));
    this.starved = true;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  /** `break` out of `for await`: tell the stream, drop what is buffered. */
  return(): Promise<IteratorResult<T>> {
    if (!this.abandoned) {
      this.abandoned = true;
      this.releaseGrowth();
      const finished = this.ended || this.failed;
      let bytes = 0;
      for (let i = this.head; i < this.sizes.length; i++) bytes += this.sizes[i]!;
      const messages = this.buffered;
      this.discard();
      if (!finished) {
        // Abandon first: a caller cancels (and then sends no credit for a dead stream);
        // a handler keeps the stream and returns the credit so the caller is not stuck.
        this.sink.abandon();
        this.consumedMany(messages, bytes);
      }
    }
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** This direction is over: what the window grew by goes back to the budget. */
  private releaseGrowth(): void {
    if (this.budget !== undefined && this.grownBytes > 0) this.budget.give(this.grownBytes);
    this.grownBytes = 0;
  }

  private consumed(size: number): void {
    this.owedMessages++;
    this.owedBytes += size;
    if (this.owedMessages * 2 >= this.window.messages || this.owedBytes * 2 >= this.window.bytes) this.flushCredit();
  }

  private consumedMany(messages: number, bytes: number): void {
    this.owedMessages += messages;
    this.owedBytes += bytes;
    if (this.owedMessages > 0) this.flushCredit();
  }

  private flushCredit(): void {
    if (this.ended || this.failed) return;
    let messages = this.owedMessages;
    let bytes = this.owedBytes;
    this.owedMessages = 0;
    this.owedBytes = 0;
    if (this.starved && !this.abandoned) {
      const w = this.window;
      const moreMessages = Math.min(this.limit.messages, w.messages * 2) - w.messages;
      const wantBytes = Math.min(this.limit.bytes, w.bytes * 2) - w.bytes;
      const moreBytes = this.budget === undefined ? wantBytes : this.budget.take(wantBytes);
      this.grownBytes += moreBytes;
      messages += moreMessages;
      bytes += moreBytes;
      w.messages += moreMessages;
      w.bytes += moreBytes;
    }
    this.starved = false;
    this.creditMessages += messages;
    this.creditBytes += bytes;
    this.sink.grant(messages, bytes);
  }
}

interface QueuedWrite {
  frame: Buffer;
  /** Payload bytes, or -1 for a frame that spends no credit (the END marker). */
  size: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The sending half: holds the credit the peer granted, and queues writes made
 * without credit until it returns. A producer that awaits each write is held to one
 * window of memory.
 */
export class SendCredit {
  private messages: number;
  private bytes: number;
  private readonly queue: QueuedWrite[] = [];
  private error: unknown = undefined;
  private failed = false;
  private creditWaiter: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  constructor(
    initial: Window,
    private readonly write: (frame: Buffer) => void,
  ) {
    this.messages = initial.messages;
    this.bytes = initial.bytes;
  }

  get canSend(): boolean {
    return this.messages > 0 && this.bytes > 0 && this.queue.length === 0 && !this.failed;
  }

  /** Send `frame` (payload `size` bytes) now if credit allows, else when it does. */
  send(frame: Buffer, size: number): Promise<void> {
    if (this.failed) return Promise.reject(this.error);
    if (this.canSend) {
      this.spend(frame, size);
      return RESOLVED;
    }
    return new Promise((resolve, reject) => this.queue.push({ frame, size, resolve, reject }));
  }

  /** Send a frame that needs no credit, in order after the queued ones. */
  sendLast(frame: Buffer): void {
    if (this.failed) return;
    if (this.queue.length === 0) this.write(frame);
    else this.queue.push({ frame, size: -1, resolve: noop, reject: noop });
  }

  /** Resolves once a message may be sent; rejects if the stream fails first. */
  ready(): Promise<void> {
    if (this.failed) return Promise.reject(this.error);
    if (this.canSend) return RESOLVED;
    if (this.creditWaiter !== undefined) return Promise.reject(new InvalidOption('ready() called again before the previous call settled'));
    return new Promise((resolve, reject) => {
      this.creditWaiter = { resolve, reject };
    });
  }

  /** The peer granted more credit. */
  grant(messages: number, bytes: number): void {
    if (this.failed) return;
    this.messages += messages;
    this.bytes += bytes;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.size >= 0 && !(this.messages > 0 && this.bytes > 0)) break;
      this.queue.shift();
      if (next.size < 0) this.write(next.frame);
      else this.spend(next.frame, next.size);
      next.resolve();
    }
    if (this.creditWaiter !== undefined && this.canSend) {
      const waiter = this.creditWaiter;
      this.creditWaiter = undefined;
      waiter.resolve();
    }
  }

  /** No more sending: queued and future writes reject with `error`. */
  fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.error = error;
    const queued = this.queue.splice(0);
    for (const w of queued) w.reject(error);
    const waiter = this.creditWaiter;
    this.creditWaiter = undefined;
    waiter?.reject(error);
  }

  private spend(frame: Buffer, size: number): void {
    this.messages--;
    this.bytes -= size;
    this.write(frame);
  }
}

function noop(): void {}
