/**
 * wirecall against dcc-mcp-core 0.13.6 in its own envelope (issue 12):
 *
 *   npm run bench:dcc-mcp                 3 runs of 3 s per cell, a Markdown table
 *   node dist/bench/dcc-mcp.js --runs 5 --time 2
 *
 * - Against the same dcc-mcp-core server (its IpcListener, a Python loop answering every
 *   request with its params): wirecall's client (`connect(…, { dialect: 'dcc-mcp' })`)
 *   vs dcc-mcp-core's own Python client (connect_ipc's FramedChannel).
 * - With dcc-mcp-core's Python client: a wirecall server (the same echo) vs its own
 *   IpcListener.
 *
 * Each with one call in flight, and with 128 (dcc-mcp-core 0.13.6 deadlocks near 512
 * unanswered requests; wirecall's client holds calls beyond `maxCallsInFlight`, 128 by
 * default, back). 0.13.6 is not on PyPI: the script needs the venv that
 * `DCC_MCP_CORE_0136_SRC=<v0.13.6 checkout> npm run setup:interop` builds, and says so
 * when it is missing. Everything talks over TCP on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, createServer, type Connection } from '../src/index.js';
import { machine, machineText } from './cli/results.js';

const ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const PYTHON = path.join(ROOT, '.interop/dcc-mcp-core-0.13.6/bin/python');
const FIXTURE = path.join(ROOT, 'bench/fixtures/dcc_mcp_bench.py');
const PARAMS = Buffer.from('{"x":1}');
const WINDOW = 128;

interface Options {
  runs: number;
  seconds: number;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 3, seconds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--runs' && Number.isInteger(value) && value > 0) options.runs = value;
    else if (argv[i] === '--time' && value > 0 && value <= 60) options.seconds = value;
    else continue;
    i++;
  }
  return options;
}

/** Spawn the fixture; resolves with its first "@@" line. */
function fixture(args: string[]): Promise<{ child: ChildProcess; result: string; stderr: () => string }> {
  const child = spawn(PYTHON, [FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('@@'));
      if (line !== undefined) resolve({ child, result: line.slice(2), stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`dcc_mcp_bench.py ${args[0]} exited ${code}: ${stderr}`)));
  });
}

/** Calls per second of the Python client against `port`. */
async function pythonClient(port: number, seconds: number, window: number): Promise<number> {
  const { result } = await fixture(['client', String(port), String(seconds), String(window)]);
  return Number(result);
}

/** Calls per second of wirecall's client against `port`, `window` calls in flight. */
async function wirecallClient(port: number, seconds: number, window: number): Promise<number> {
  const conn: Connection = await connect(`tcp://127.0.0.1:${port}`, { dialect: 'dcc-mcp', heartbeatInterval: 0 });
  try {
    await conn.call('echo', PARAMS); // warm up
    let done = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        await conn.call('echo', PARAMS);
        done++;
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    return Math.round(done / ((performance.now() - start) / 1000));
  } finally {
    await conn.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<number> {
  if (!existsSync(PYTHON)) {
    console.error(`dcc-mcp bench: needs dcc-mcp-core 0.13.6 at ${PYTHON}; it is not on PyPI: DCC_MCP_CORE_0136_SRC=<v0.13.6 checkout> npm run setup:interop builds it`);
    return 0;
  }
  const { runs, seconds } = parseArgs(process.argv.slice(2));
  const listener = await fixture(['server']);
  const listenerPort = Number(listener.result.replace('PORT ', ''));
  listener.child.once('exit', (code, signal) => {
    if (signal !== 'SIGTERM') process.stderr.write(`dcc-mcp-core IpcListener exited early (${code ?? signal}): ${listener.stderr()}\n`);
  });
  const server = createServer({ heartbeatInterval: 0 });
  server.register('echo', (p: unknown) => p);
  const serverPort = Number(new URL(await server.listen('tcp://127.0.0.1:0')).port);

  const cells: Array<{ server: string; client: string; window: number; run: () => Promise<number> }> = [];
  for (const window of [1, WINDOW]) {
    cells.push({ server: 'dcc-mcp-core IpcListener', client: 'wirecall (Node)', window, run: () => wirecallClient(listenerPort, seconds, window) });
    cells.push({ server: 'dcc-mcp-core IpcListener', client: 'dcc-mcp-core connect_ipc (Python)', window, run: () => pythonClient(listenerPort, seconds, window) });
    cells.push({ server: 'wirecall server (Node)', client: 'dcc-mcp-core connect_ipc (Python)', window, run: () => pythonClient(serverPort, seconds, window) });
  }
  const results: number[][] = cells.map(() => []);
  /** Why a cell could not be measured (its first failure); it is not run again. */
  const failures = new Map<number, string>();
  // Interleaved runs: machine noise spreads over every cell rather than one.
  for (let r = 0; r < runs; r++) {
    for (const [i, cell] of cells.entries()) {
      if (failures.has(i)) continue;
      try {
        results[i]!.push(await cell.run());
        process.stderr.write(`run ${r + 1}/${runs}: ${cell.client} → ${cell.server}, ${cell.window} in flight: ${results[i]!.at(-1)} calls/s\n`);
      } catch (err) {
        const reason = /RuntimeError: (.*)/.exec(String(err))?.[1] ?? String(err).split('\n')[0]!;
        failures.set(i, reason);
        process.stderr.write(`run ${r + 1}/${runs}: ${cell.client} → ${cell.server}, ${cell.window} in flight: failed: ${reason}\n`);
      }
    }
  }
  listener.child.kill();
  await server.close();

  const info = machine();
  console.log(`# wirecall ⇄ dcc-mcp-core 0.13.6 — ${new Date().toISOString()}\n`);
  console.log(`${machineText(info)}, Node ${info.node}; ${runs} runs of ${seconds} s per cell, interleaved; median calls/s (min–max). Echo of 7 bytes over TCP on 127.0.0.1.\n`);
  console.log('| server | client | in flight | calls/s | min–max |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  cells.forEach((cell, i) => {
    const values = results[i]!;
    const failure = failures.get(i);
    if (failure !== undefined) return console.log(`| ${cell.server} | ${cell.client} | ${cell.window} | failed: ${failure} | |`);
    console.log(`| ${cell.server} | ${cell.client} | ${cell.window} | ${median(values).toLocaleString('en-US')} | ${Math.min(...values).toLocaleString('en-US')}–${Math.max(...values).toLocaleString('en-US')} |`);
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
