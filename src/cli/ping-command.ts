/** `wirecall ping <endpoint> [--count n] [--interval ms]`: round-trip times via connection.ping(). */
import { Command } from 'commander';
import { clientFlags, withConnection } from './connect-target.js';
import { ENDPOINT_HELP, EXIT_CODES_HELP, parseCount, parseMs, parsePositiveMs, type ClientFlags } from './common.js';
import { TLS_HELP } from './tls-flags.js';
import { TOKEN_HELP } from './token.js';

interface PingFlags extends ClientFlags {
  count: number;
  interval: number;
  timeout?: number;
}

export function pingCommand(): Command {
  return clientFlags(
    new Command('ping')
      .description('measure round-trip times to a server')
      .argument('<endpoint>', 'server endpoint, e.g. tcp://127.0.0.1:4000 or unix:/tmp/app.sock'),
  )
    .option('-c, --count <n>', 'number of pings', parseCount, 1)
    .option('-i, --interval <ms>', 'wait between pings', parseMs, 1000)
    .option('--timeout <ms>', 'fail (exit code 4) when a pong takes longer than this (default 10000)', parsePositiveMs)
    .addHelpText(
      'after',
      `
Output, one line per pong, then a summary when --count is more than 1:
  pong from tcp://127.0.0.1:4000: time=0.123 ms
  min/avg/max = 0.101/0.117/0.123 ms
${TOKEN_HELP}
${TLS_HELP}
${ENDPOINT_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (endpointText: string, flags: PingFlags) => {
      const times: number[] = [];
      try {
        await withConnection(endpointText, flags, async (connection, endpoint, signal) => {
          for (let i = 0; i < flags.count; i++) {
            if (i > 0) await sleep(flags.interval, signal);
            const ms = await connection.ping(flags.timeout === undefined ? { signal } : { timeout: flags.timeout, signal });
            times.push(ms);
            process.stdout.write(`pong from ${endpoint}: time=${ms.toFixed(3)} ms\n`);
          }
        });
      } finally {
        // Also after SIGINT or a failure: summarise what was measured.
        if (flags.count > 1 && times.length > 0) {
          const min = Math.min(...times);
          const max = Math.max(...times);
          const avg = times.reduce((a, b) => a + b, 0) / times.length;
          process.stdout.write(`min/avg/max = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)} ms\n`);
        }
      }
    });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

