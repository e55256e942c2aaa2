// Launch-to-first-call time of a wirecall plugin (docs/PLUGINS.md), from dist/:
//   npm run build && node scripts/plugin-launch-time.mjs [launches per case, default 20]
//
// For each case (Unix socket / TCP, without / with AutoMTLS) it launches a minimal plugin
// (node, servePlugin, one method) N times, after one unmeasured warm-up, and prints the
// median and p90 in ms of:
//   line        spawn → the handshake line on stdout (a bare spawn that reads the line, then SIGTERM)
//   connected   launchPlugin() resolved: spawn, line, checks, wirecall connection (with TLS)
//   first call  connected + the first call answered
// With AutoMTLS, `connected` includes making the host's certificate and the plugin making
// its own. Launches run one at a time; the machine's load average is printed before and after.
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(root, 'dist/src', p)).href;
const { launchPlugin, generateAutoMTLSCert, DEFAULT_HANDSHAKE } = await import(dist('plugin/index.js'));

const runs = Number(process.argv[2] ?? 20);
if (!Number.isInteger(runs) || runs < 1) {
  console.error('usage: node scripts/plugin-launch-time.mjs [launches per case]');
  process.exit(2);
}

// The plugin: as small as a real one gets.
const pluginSource = `
import { createServer } from ${JSON.stringify(dist('index.js'))};
import { servePlugin } from ${JSON.stringify(dist('plugin/index.js'))};
const server = createServer({ name: 'launch-time' });
server.register('add', ({ a, b }) => a + b);
await servePlugin(server, { network: process.env.LT_NETWORK });
`;
const pluginArgs = ['--input-type=module', '-e', pluginSource];

const cases = [
  { name: 'unix', network: 'unix', autoMTLS: false },
  { name: 'tcp', network: 'tcp', autoMTLS: false },
  { name: 'unix + AutoMTLS', network: 'unix', autoMTLS: true },
  { name: 'tcp + AutoMTLS', network: 'tcp', autoMTLS: true },
];

/** A bare spawn with the handshake environment: ms to the first stdout line; then SIGTERM and wait. */
async function lineTime(network, clientCert) {
  const env = {
    ...process.env,
    [DEFAULT_HANDSHAKE.magicCookieKey]: DEFAULT_HANDSHAKE.magicCookieValue,
    PLUGIN_PROTOCOL_VERSIONS: '1',
    PLUGIN_MIN_PORT: '10000',
    PLUGIN_MAX_PORT: '25000',
    LT_NETWORK: network,
    ...(clientCert === undefined ? {} : { PLUGIN_CLIENT_CERT: clientCert }),
  };
  const started = performance.now();
  const child = spawn(process.execPath, pluginArgs, { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  const ms = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no handshake line within 30 s')), 30_000);
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      text += d;
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve(performance.now() - started);
      }
    });
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`plugin exited (${code}) before its line`))));
  });
  child.kill('SIGTERM');
  await exited;
  return ms;
}

async function launchTimes(network, autoMTLS) {
  const started = performance.now();
  const plugin = await launchPlugin(process.execPath, pluginArgs, {
    autoMTLS,
    handshakeTimeout: 30_000,
    env: { ...process.env, LT_NETWORK: network },
  });
  const connected = performance.now() - started;
  const sum = await plugin.connection.call('add', { a: 1, b: 2 });
  const firstCall = performance.now() - started;
  if (sum !== 3) throw new Error(`add answered ${sum}`);
  await plugin.kill();
  return { connected, firstCall };
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return `${at(0.5).toFixed(1).padStart(7)} ${at(0.9).toFixed(1).padStart(7)}`;
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${os.platform()}; ${runs} launches per case, one at a time`);
console.log(`load average before: ${load()}`);
console.log(`${'case'.padEnd(18)} ${'line (median p90)'.padStart(17)} ${'connected'.padStart(17)} ${'first call'.padStart(17)}   ms`);
for (const c of cases) {
  const clientCert = c.autoMTLS ? (await generateAutoMTLSCert()).certPem : undefined;
  await lineTime(c.network, clientCert); // warm-up
  await launchTimes(c.network, c.autoMTLS);
  const line = [];
  const connected = [];
  const firstCall = [];
  for (let i = 0; i < runs; i++) {
    line.push(await lineTime(c.network, clientCert));
    const t = await launchTimes(c.network, c.autoMTLS);
    connected.push(t.connected);
    firstCall.push(t.firstCall);
  }
  console.log(`${c.name.padEnd(18)} ${stats(line).padStart(17)} ${stats(connected).padStart(17)} ${stats(firstCall).padStart(17)}`);
}
console.log(`load average after: ${load()}`);
