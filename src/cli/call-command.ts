/** `wirecall call <endpoint> <method> [json-params]` and `wirecall notify …`. */
import { Command } from 'commander';
import type { CallOptions, StreamOptions } from '../index.js';
import { clientFlags, withConnection } from './connect-target.js';
import { ENDPOINT_HELP, EXIT_CODES_HELP, parseJsonParams, parseMs, toJsonLine, type ClientFlags } from './common.js';
import { TOKEN_HELP } from './token.js';
import { LineOutput } from './line-output.js';
import { paramsFor, resultLine } from './dcc-mcp-payload.js';

interface CallFlags extends ClientFlags {
  timeout?: number;
  stream?: boolean;
}

export function callCommand(): Command {
  return clientFlags(
    new Command('call')
      .description('call a method and print its result as one line of JSON (--stream: one line per message)')
      .argument('<endpoint>', 'server endpoint, e.g. tcp://127.0.0.1:4000 or unix:/tmp/app.sock')
      .argument('<method>', 'method name')
      .argument('[json-params]', 'params as JSON, e.g. \'{"a":1,"b":2}\'; omitted: no params'),
  )
    .option('--timeout <ms>', 'call deadline; past it the call fails with exit code 4', parseMs)
    .option('--stream', 'open a server stream: print each message as it arrives, one JSON line each')
    .addHelpText(
      'after',
      `
Prints the result with JSON.stringify on one line of stdout ("null" when there is none).
With --stream, prints one line per message of the server stream, in order, and exits 0
after its end; a stream that fails mid-way exits non-zero after the lines it delivered.
Example: wirecall call tcp://127.0.0.1:4000 add '{"a":1,"b":2}'   prints   3
         wirecall call --stream unix:/tmp/app.sock count '{"n":3}'   prints   0, 1, 2 (a line each)
With --dialect dcc-mcp (a dcc-mcp-core IpcListener), the params are sent as UTF-8 JSON
bytes and the reply's payload is printed as JSON when it is UTF-8 JSON, else as hex:
         wirecall call --dialect dcc-mcp tcp://127.0.0.1:18812 echo '"hi"'   prints   "hi"
${TOKEN_HELP}
${ENDPOINT_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (endpoint: string, method: string, json: string | undefined, flags: CallFlags) => {
      const params = paramsFor(flags.dialect, parseJsonParams(json));
      if (flags.stream === true) {
        const out = new LineOutput();
        try {
          await withConnection(endpoint, flags, async (connection, _endpoint, signal) => {
            const options: StreamOptions = { signal };
            if (flags.timeout !== undefined) options.timeout = flags.timeout;
            for await (const message of connection.stream(method, params, options)) {
              const full = out.line(toJsonLine(message));
              if (full !== undefined) await full;
              // Nobody reads our output any more: leaving the loop cancels the stream.
              if (out.closed) break;
            }
          });
        } finally {
          await out.end();
        }
        return;
      }
      const result = await withConnection(endpoint, flags, (connection, _endpoint, signal) => {
        const options: CallOptions = { signal };
        if (flags.timeout !== undefined) options.timeout = flags.timeout;
        return connection.call(method, params, options);
      });
      process.stdout.write(resultLine(flags.dialect, result) + '\n');
    });
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
${ENDPOINT_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (endpoint: string, method: string, json: string | undefined, flags: ClientFlags) => {
      const params = paramsFor(flags.dialect, parseJsonParams(json));
      // close() (in withConnection) drains: the frame is flushed before the connection ends.
      await withConnection(endpoint, flags, async (connection) => connection.notify(method, params));
    });
}
