/**
 * For the src/plugin-grpc tests (here, not in src/, so that it is neither built nor shipped):
 * the real go-plugin peers, built by `npm run setup:go-plugin`
 * (scripts/setup-go-plugin.sh) under .interop/, and the Greeter they all serve. The house
 * rule of src/test-util/interop.ts: without the peers a test file is skipped with one line
 * saying how to set them up, except with CI=true, where it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from '../../src/test-util/build.js';
import { inCI } from '../../src/test-util/interop.js';
import { greeterClient, type GreeterClient } from '../../src/plugin-grpc/fixtures/greeter.mjs';
import * as pb from '../../src/plugin-grpc/pb.js';

export type { GreeterClient } from '../../src/plugin-grpc/fixtures/greeter.mjs';

const SETUP = readFileSync(path.join(ROOT, 'scripts/setup-go-plugin.sh'), 'utf8');
/** The pinned pyvider-rpcplugin. */
export const PYVIDER = /^PYVIDER=(\S+)$/m.exec(SETUP)![1]!;
export const GO_HOST = path.join(ROOT, '.interop/go-plugin/bin/host');
export const GO_PLUGIN = path.join(ROOT, '.interop/go-plugin/bin/plugin');
export const PYVIDER_PYTHON = path.join(ROOT, `.interop/pyvider-rpcplugin-${PYVIDER}/bin/python`);
export const PYVIDER_PLUGIN = path.join(ROOT, 'test/go-plugin/python/greeter_plugin.py');
/** The wirecall gRPC plugin (run from dist/). */
export const FIXTURE = path.join(ROOT, 'src/plugin-grpc/fixtures/greeter-plugin.mjs');

export interface GoPluginPeers {
  /** Everything is there. */
  readonly installed: boolean;
  /** The Go host and plugin are there. */
  readonly go: boolean;
  /** The pyvider-rpcplugin venv is there (SKIP_PYVIDER=1 leaves it out). */
  readonly pyvider: boolean;
  /** Run the file's tests: installed, or CI (where missing peers must fail them). */
  readonly run: boolean;
  requireInstalled(): void;
}

/** The peers for a test file named by `what`; prints the one skip line when some are missing outside CI. */
export function goPluginPeers(what: string): GoPluginPeers {
  const missing = [GO_HOST, GO_PLUGIN, PYVIDER_PYTHON].filter((f) => !existsSync(f));
  const installed = missing.length === 0;
  const line = `${what}: run \`npm run setup:go-plugin\` first`;
  if (!installed && !inCI) process.stderr.write(`${line} (missing ${missing.map((f) => path.relative(ROOT, f)).join(', ')}: those tests skipped)\n`);
  return {
    installed,
    go: !missing.includes(GO_HOST) && !missing.includes(GO_PLUGIN),
    pyvider: !missing.includes(PYVIDER_PYTHON),
    run: installed || inCI,
    requireInstalled(): void {
      if (!installed) expect.fail(`${line} (CI=true: the go-plugin peers must be installed; missing ${missing.join(', ')})`);
    },
  };
}

/** wirecall.interop.Greeter's client, as the Go and Python peers serve it. */
export const Greeter = greeterClient(pb);

/** One Greet call with a 10 s deadline. */
export function greet(client: GreeterClient, name: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.greet(name, { deadline: Date.now() + 10_000 }, (err, reply) => (err ? reject(err) : resolve(reply!))),
  );
}

/** What the Go host prints (test/go-plugin/host). */
export interface GoHostRun {
  protocol: string;
  version: number;
  ping: boolean;
  reply: string;
  handshakeMs: number;
  launchToFirstCallMs: number;
  killMs: number;
  graceful: boolean;
  exited: boolean;
  pluginStdout: string;
  pluginStderr: string;
}
export interface GoHostReport {
  autoMTLS: boolean;
  runs: GoHostRun[];
  medianLaunchToFirstCallMs: number;
  error?: string;
}

/** Runs the Go host on `command` (bounded); resolves to its report, whatever its exit code. */
export function runGoHost(flags: string[], command: string[], env: NodeJS.ProcessEnv = {}, timeout = 60_000): Promise<GoHostReport> {
  return new Promise((resolve, reject) => {
    execFile(GO_HOST, [...flags, '--', ...command], { env: { ...process.env, ...env }, timeout, encoding: 'utf8' }, (err, stdout, stderr) => {
      try {
        resolve(JSON.parse(stdout) as GoHostReport);
      } catch {
        reject(new Error(`go-plugin host: ${err?.message ?? 'no JSON'}\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
  });
}
