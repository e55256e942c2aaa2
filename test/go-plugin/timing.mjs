#!/usr/bin/env node
// Launch-to-first-call times across go-plugin (issue 16): from starting the plugin process
// to the first reply of its Greeter, median of N runs, for the Go go-plugin host and the
// wirecall host (launchGrpcPlugin) against Go, pyvider-rpcplugin and wirecall plugins.
// Needs `npm run build` and `npm run setup:go-plugin`.
//
//   node test/go-plugin/timing.mjs [N=20] [--automtls]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchGrpcPlugin } from '../../dist/src/plugin-grpc/index.js';
import * as pb from '../../dist/src/plugin-grpc/pb.js';
import { greeterClient } from '../../src/plugin-grpc/fixtures/greeter.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const N = Number(process.argv.find((a) => /^[0-9]+$/.test(a)) ?? 20);
const autoMTLS = process.argv.includes('--automtls');
const GO_HOST = path.join(ROOT, '.interop/go-plugin/bin/host');
const plugins = {
  'Go go-plugin plugin': [path.join(ROOT, '.interop/go-plugin/bin/plugin')],
  'pyvider-rpcplugin 0.5.5 plugin': [path.join(ROOT, '.interop/pyvider-rpcplugin-0.5.5/bin/python'), path.join(ROOT, 'test/go-plugin/python/greeter_plugin.py')],
  'wirecall gRPC plugin (Node)': [process.execPath, path.join(ROOT, 'src/plugin-grpc/fixtures/greeter-plugin.mjs')],
};
const Greeter = greeterClient(pb);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${ms.toFixed(1)} ms`;

async function wirecallHost([command, ...args]) {
  const times = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const plugin = await launchGrpcPlugin(command, args, { autoMTLS, handshakeTimeout: 30_000 });
    const client = plugin.client(Greeter);
    await new Promise((resolve, reject) => client.greet('timing', { deadline: Date.now() + 10_000 }, (err, v) => (err ? reject(err) : resolve(v))));
    times.push(performance.now() - t0);
    const killed = await plugin.kill();
    if (killed.via !== 'controller') throw new Error(`${command}: kill took ${killed.via}`);
  }
  return times;
}

function goHost(command) {
  const flags = ['-runs', String(N), ...(autoMTLS ? ['-automtls'] : [])];
  const report = JSON.parse(execFileSync(GO_HOST, [...flags, '--', ...command], { encoding: 'utf8', timeout: 600_000 }));
  if (report.error) throw new Error(report.error);
  return report.runs.map((r) => r.launchToFirstCallMs);
}

console.log(`launch-to-first-call, median of ${N} (min–max)${autoMTLS ? ', AutoMTLS' : ''}; Node ${process.version}, ${execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim()}, ${grpcVersion()}`);
for (const [name, command] of Object.entries(plugins)) {
  for (const [host, run] of [['go-plugin Go host', () => goHost(command)], ['wirecall host (launchGrpcPlugin)', () => wirecallHost(command)]]) {
    const times = await run();
    console.log(`${host.padEnd(34)} → ${name.padEnd(32)} ${fmt(median(times)).padStart(10)}  (${fmt(Math.min(...times))}–${fmt(Math.max(...times))})`);
  }
}

function grpcVersion() {
  return `@grpc/grpc-js ${JSON.parse(execFileSync(process.execPath, ['-p', 'JSON.stringify(require("@grpc/grpc-js/package.json").version)'], { cwd: ROOT, encoding: 'utf8' }))}`;
}
