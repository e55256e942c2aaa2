/** `wirecall call <endpoint> <method> [json-params]` and `wirecall notify …`. */
import { Command, Option } from 'commander';
import { InvalidArgument, MessageTooLarge, WirecallError, type CallOptions, type StreamOptions } from '../index.js';
import { clientFlags, withConnection } from './connect-target.js';
import { ENDPOINT_HELP, EXIT_CODES_HELP, UsageError, parseJsonParams, parseMs, toJsonLine, type ClientFlags } from './common.js';
import { TLS_HELP } from './tls-flags.js';
import { TOKEN_HELP } from './token.js';
import { LineOutput } from './line-output.js';
import { paramsFor, resultLine } from './dcc-mcp-payload.js';
import { writeLines, type Writable } from './stdin-messages.js';

interface CallFlags extends ClientFlags {
  timeout?: number;
  stream?: boolean;
  clientStream?: boolean;
  bidi?: boolean;
}

export function callCommand(): Command {
  return clientFlags(
    new Command('call')
      .description('call a method and print its result as one line of JSON (streams: --stream, --client-stream, --bidi)')
      .argument('<endpoint>', 'server endpoint, e.g. tcp://127.0.0.1:4000 or unix:/tmp/app.sock')
      .argument('<method>', 'method name')
      .argument('[json-params]', 'params as JSON, e.g. \'{"a":1,"b":2}\'; omitted: no params'),
  )
    .option('--timeout <ms>', 'call deadline (for a stream: the whole stream); past it the call fails with exit code 4', parseMs)
    .addOption(new Option('--stream', 'open a server stream: print each message as it arrives, one JSON line each').conflicts(['clientStream', 'bidi']))
    .addOption(
      new Option('--client-stream', 'open a client stream: send each line of stdin (JSON) as a message; end of input ends it; print the result').conflicts('bidi'),
    )
    .addOption(new Option('--bidi', 'open a bidirectional stream: send each line of stdin (JSON) as a message; print each reply as a JSON line'))
    .addHelpText(
      'after',
      `
Prints the result with JSON.stringify on one line of stdout ("null" when there is none).
With --stream, prints one line per message of the server stream, in order, and exits 0
after its end; a stream that fails mid-way exits non-zero after the lines it delivered.
With --client-stream and --bidi, stdin holds the messages, one JSON value per line (blank
lines are skipped); end of input (Ctrl-D, or the end of a pipe) ends the stream. A line
that is not JSON cancels the stream (exit 2). --client-stream prints the result as one
line; --bidi prints each reply as one line as it arrives, and exits 0 after the end.
A server may call back while handling a call: "wirecall call" answers the demo's
countdown.tick (see "wirecall serve --help"), logging each one on stderr.
Example: wirecall call tcp://127.0.0.1:4000 add '{"a":1,"b":2}'   prints   3
         wirecall call --stream unix:/tmp/app.sock count '{"n":3}'   prints   0, 1, 2 (a line each)
         printf '1\\n2\\n3\\n' | wirecall call --client-stream unix:/tmp/app.sock sum   prints   6
         printf '"a"\\n"b"\\n' | wirecall call --bidi unix:/tmp/app.sock chat   prints   "a", "b"
With --dialect dcc-mcp (a dcc-mcp-core IpcListener), the params are sent as UTF-8 JSON
bytes and the reply's payload is printed as JSON when it is UTF-8 JSON, else as hex:
         wirecall call --dialect dcc-mcp tcp://127.0.0.1:18812 echo '"hi"'   prints   "hi"
${TOKEN_HELP}
${TLS_HELP}
${ENDPOINT_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (endpoint: string, method: string, json: string | undefined, flags: CallFlags) => {
      const params = paramsFor(flags.dialect, parseJsonParams(json));
      if (flags.stream === true || flags.bidi === true) {
        const out = new LineOutput();
        try {
          await withConnection(endpoint, flags, async (connection, _endpoint, signal) => {
            const options = streamOptions(flags, signal);
            if (flags.bidi === true) {
              const stream = connection.bidiStream(method, params, options);
              await withStdin(stream, () => printAll(stream, out));
            } else {
              await printAll(connection.stream(method, params, options), out);
            }
          });
        } finally {
          await out.end();
        }
        return;
      }
      const result = await withConnection(endpoint, flags, (connection, _endpoint, signal) => {
        if (flags.clientStream === true) {
          const stream = connection.clientStream(method, params, streamOptions(flags, signal));
          return withStdin(stream, () => stream.result);
        }
        const options: CallOptions = { signal };
        if (flags.timeout !== undefined) options.timeout = flags.timeout;
        return connection.call(method, params, options);
      });
      process.stdout.write(resultLine(flags.dialect, result) + '\n');
    });
}

function streamOptions(flags: CallFlags, signal: AbortSignal): StreamOptions {
  const options: StreamOptions = { signal };
  if (flags.timeout !== undefined) options.timeout = flags.timeout;
  return options;
}

/** Prints each message as a JSON line; stops (and so cancels the stream) when nobody reads stdout any more. */
async function printAll(messages: AsyncIterable<unknown>, out: LineOutput): Promise<void> {
  for await (const message of messages) {
    const full = out.line(toJsonLine(message));
    if (full !== undefined) await full;
    // Nobody reads our output any more: leaving the loop cancels the stream.
    if (out.closed) break;
  }
}

/**
 * Runs `consume` (await the result, or print the replies) while the JSON lines of stdin
 * are written to `stream`. A line that is not JSON, or a message that cannot be sent,
 * cancels the stream and is the error reported; a write that fails because the stream
 * did (or the handler finished early) leaves the reporting to `consume`.
 */
async function withStdin<T>(stream: Writable & { cancel(reason?: unknown): void }, consume: () => Promise<T>): Promise<T> {
  let inputError: unknown;
  const writing = writeLines(process.stdin, stream).catch((err: unknown) => {
    const ours = err instanceof UsageError || err instanceof InvalidArgument || err instanceof MessageTooLarge || !(err instanceof WirecallError);
    if (!ours) return;
    inputError ??= err;
    stream.cancel(err);
  });
  try {
    return await consume();
  } catch (err) {
    throw inputError ?? err;
  } finally {
    // The stream is over: stop reading (stdin may be a terminal nobody will close).
    process.stdin.destroy();
    await writing;
  }
}

export function notifyCommand(): Command {
  return clientFlags(
    new Command('notify')
      .description('send a notification (no reply) and exit once it has been flushed')
      .argument('<endpoint>', 'server endpoint, e.g. tcp://127.0.0.1:4000 or unix:/tmp/app.sock')
      .argument('<method>', 'method name')
      .argument('[json-params]', 'params as JSON; omitted: no params'),
  )
    .addHelpText(
      'after',
      `
Prints nothing. Exit code 0 means the notification was written and the connection
closed cleanly, not that the server handled it.
${TOKEN_HELP}
${TLS_HELP}
${ENDPOINT_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (endpoint: string, method: string, json: string | undefined, flags: ClientFlags) => {
      const params = paramsFor(flags.dialect, parseJsonParams(json));
      // close() (in withConnection) drains: the frame is flushed before the connection ends.
      await withConnection(endpoint, flags, async (connection) => connection.notify(method, params));
    });
}
