/**
 * Client and bidirectional streams from the command line: the caller's messages are
 * JSON lines on stdin, one message per line (blank lines skipped); end of input ends
 * the stream. Lines are read as the stream takes them, so a producer faster than the
 * handler is held back by flow control instead of filling our memory.
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { UsageError } from './common.js';
import { errorMessage } from '../util/error-message.js';

/** The lines of `input` (without their `\n` or `\r\n`); a last line without a newline counts. */
export async function* lines(input: Readable): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    rest += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let at: number;
    while ((at = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, at).replace(/\r$/, '');
      rest = rest.slice(at + 1);
    }
  }
  rest += decoder.end();
  if (rest !== '') yield rest.replace(/\r$/, '');
}

/** What a client or bidi stream takes from the caller. */
export interface Writable {
  write(message: unknown): Promise<void>;
  end(): void;
}

/**
 * Writes each JSON line of `input` to `stream`, then ends it. Rejects with a UsageError
 * (ERR_INVALID_JSON) naming the first line that is not JSON; with the stream's own
 * error when a write fails (the stream failed or the handler finished early).
 */
export async function writeLines(input: Readable, stream: Writable): Promise<void> {
  let n = 0;
  for await (const line of lines(input)) {
    n++;
    if (line.trim() === '') continue;
    let message: unknown;
    try {
      message = JSON.parse(line) as unknown;
    } catch (err) {
      throw new UsageError(`stdin line ${n} is not valid JSON: ${errorMessage(err)}`, 'ERR_INVALID_JSON');
    }
    await stream.write(message);
  }
  stream.end();
}
