/**
 * One registry directory shared by wirecall and the real dcc-mcp-core (the venv
 * `npm run setup:interop` makes): their locks exclude each other, and each side judges
 * the other's rows by their sentinel lock files.
 *
 * Real processes on both sides: fixtures/dcc_mcp_worker.py (an McpHttpServer registered
 * through dcc-mcp-core's own Rust FileRegistry, heartbeating every second) and
 * fixtures/wirecall-registrant.mjs (the compiled FileRegistry, holding its sentinel).
 *
 * Without the venv: with CI=true the tests fail; elsewhere they are skipped with one line.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../../test-util/build.js';
import { DIST_FILE_REGISTRY, FIXTURES, readServicesJson } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';
import { exited, waitFor } from '../../test-util/wait.js';
import { FileRegistry } from './file-registry.js';
import { loadNativeLock } from './native-lock.js';
import { probeSentinel } from './sentinel.js';
import { interopPeer, LATEST, PYTHON } from '../../test-util/interop.js';

const venv = interopPeer('dcc-mcp-core shared registry');

const PER_SIDE = 10;
type Row = Record<string, unknown>;

/** A child with its stdout lines, its stderr, and its end. */
interface Peer {
  child: ChildProcessWithoutNullStreams;
  line(prefix: string): Promise<string>;
  stderr(): string;
}

const scratch = new Scratch();
afterEach(() => scratch.cleanup());
beforeAll(() => buildIfStale(), 120_000);

function peer(command: string, args: string[]): Peer {
  const child = scratch.child(spawn(command, args, { env: { ...process.env, RUST_LOG: 'warn' } }));
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => void (err = (err + chunk).slice(-20_000)));
  child.once('exit', () => [...waiters].forEach((w) => w()));
  return {
    child,
    stderr: () => err,
    line: (prefix) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = lines.find((l) => l.startsWith(prefix));
          const ended = child.exitCode !== null || child.signalCode !== null;
          if (found === undefined && !ended) return;
          waiters.delete(check);
          if (found !== undefined) resolve(found.slice(prefix.length));
          else reject(new Error(`${path.basename(args[0]!)} ended (${child.exitCode ?? child.signalCode}) before ${prefix}: ${err.slice(-2000)}`));
        };
        waiters.add(check);
        check();
      }),
  };
}

const python = (dir: string, gatewayPort: number, dccType: string): Peer =>
  peer(PYTHON, [path.join(FIXTURES, 'dcc_mcp_worker.py'), dir, String(gatewayPort), dccType]);
const wirecall = (dir: string, dccType: string, beats: number, everyMs: number): Peer =>
  peer(process.execPath, [path.join(FIXTURES, 'wirecall-registrant.mjs'), DIST_FILE_REGISTRY, dir, dccType, String(beats), String(everyMs)]);

/** `<instance id> <sentinel path>` from a READY line. */
async function ready(p: Peer): Promise<{ id: string; sentinel: string }> {
  const [id, sentinel] = (await p.line('READY ')).split(' ');
  return { id: id!, sentinel: sentinel! };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** dcc-mcp-core's own reader: `query_runtime_state` (sentinel first, then pid) → instance id → runtime_alive. */
/** A sentinel probed on its own (for a failure message). */
async function probeOnce(file: string): Promise<string> {
  const lock = await loadNativeLock();
  return lock instanceof Error ? `(no native lock: ${lock.message})` : probeSentinel(lock, file);
}

function pythonSeesAlive(dir: string): Record<string, boolean | null> {
  const code =
    'import json, sys\nfrom dcc_mcp_core.install_lifecycle import query_runtime_state\n' +
    's = query_runtime_state(sys.argv[1])\nprint(json.dumps({e["instance_id"]: e["runtime_alive"] for e in s["entries"]}))';
  const out = spawnSync(PYTHON, ['-c', code, dir], { encoding: 'utf8', timeout: 10_000 });
  if (out.status !== 0) throw new Error(`query_runtime_state failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as Record<string, boolean | null>;
}

const idsOf = (rows: Row[], dccType?: string): string[] =>
  rows.filter((r) => dccType === undefined || r['dcc_type'] === dccType).map((r) => String(r['instance_id'])).sort();

describe.runIf(venv.run)(`one registry shared with dcc-mcp-core ${LATEST}`, () => {
  it(`${PER_SIDE} wirecall + ${PER_SIDE} dcc-mcp-core processes registering and heartbeating at once end with exactly the expected rows`, async () => {
    venv.requireInstalled();
    const dir = scratch.dir();
    const gatewayPort = await freePort();
    const started = Date.now();
    // All at once: 10 heartbeats 150 ms apart overlap the Python side's 1 s heartbeats.
    const pys = Array.from({ length: PER_SIDE }, () => python(dir, gatewayPort, 'maya'));
    const wcs = Array.from({ length: PER_SIDE }, () => wirecall(dir, 'blender', 10, 150));
    const pyIds = (await Promise.all(pys.map(ready))).map((r) => r.id);
    const wcIds = (await Promise.all(wcs.map(ready))).map((r) => r.id);
    await Promise.all(wcs.map((w) => w.line('BEATEN')));
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // one more Python heartbeat round

    const rows = await readServicesJson(dir);
    expect(idsOf(rows, 'maya')).toEqual([...pyIds].sort());
    expect(idsOf(rows, 'blender')).toEqual([...wcIds].sort());
    const gateways = rows.filter((r) => r['dcc_type'] === '__gateway__');
    expect(gateways).toHaveLength(1);
    expect(rows).toHaveLength(2 * PER_SIDE + 1);
    // Every row alive for both readers: wirecall's and dcc-mcp-core's.
    const reg = new FileRegistry({ dir, onWarning: (m) => expect.fail(m) });
    expect(idsOf((await reg.listAll()).map((e) => ({ instance_id: e.instanceId })))).toEqual(idsOf(rows));
    const seen = pythonSeesAlive(dir);
    for (const id of wcIds) expect(seen[id], `dcc-mcp-core sees wirecall row ${id} alive`).toBe(true);

    // Everyone leaves; each side's deregistration keeps the other's rows until they go too.
    for (const p of [...wcs, ...pys]) p.child.stdin.end();
    await Promise.all([...wcs, ...pys].map((p) => p.line('DONE')));
    expect(await readServicesJson(dir)).toEqual([]);
    const leftLocks = await fs.readdir(path.join(dir, 'locks'));
    expect(leftLocks.filter((f) => f.startsWith('blender-'))).toEqual([]);
    for (const p of pys) expect(p.stderr(), 'dcc-mcp-core saw no unlocked writer').not.toMatch(/unlocked writer|timed out waiting for lock/);
    for (const w of wcs) expect(w.stderr()).toBe('');
    console.log(`${PER_SIDE} + ${PER_SIDE} processes registered, heartbeat and left in ${Date.now() - started} ms`);
  }, 20_000);

  it('SIGKILL of a Python registrant: wirecall prunes its rows through the sentinel, or through the pid when the sentinel is missing', async () => {
    venv.requireInstalled();
    const dir = scratch.dir();
    const gatewayPort = await freePort();
    const [a, b] = [python(dir, gatewayPort, 'maya'), python(dir, gatewayPort, 'houdini')];
    const [ra, rb] = await Promise.all([ready(a), ready(b)]);
    expect(ra.sentinel).toBe(path.join(dir, 'locks', `maya-${ra.id}.lock`));
    const reg = new FileRegistry({ dir, onWarning: (m) => expect.fail(m) });
    expect(idsOf((await reg.listAll()).map((e) => ({ instance_id: e.instanceId })))).toContain(ra.id);

    for (const p of [a, b]) p.child.kill('SIGKILL');
    await Promise.all([a, b].map((p) => exited(p.child)));
    // a: its sentinel is there and free. Its row is rewritten to name a live pid (ours, as
    // after pid reuse): only the sentinel can tell it is dead.
    // b: its sentinel is removed: judged by its pid, which is dead.
    await fs.rm(rb.sentinel);
    const rows = (await readServicesJson(dir)).map((r) => (r['instance_id'] === ra.id ? { ...r, pid: process.pid } : r));
    await fs.writeFile(path.join(dir, 'services.json'), JSON.stringify(rows, null, 2));

    const judged = new Map((await reg.listWithLiveness()).map((r) => [r.entry.instanceId, r.liveness]));
    // Judged live once in a CI run (not reproduced since): say what the sentinel looked like then.
    const seen = judged.get(ra.id) === 'dead' ? '' : `sentinel ${existsSync(ra.sentinel) ? 'present' : 'missing'}, now probed ${await probeOnce(ra.sentinel)}`;
    expect(judged.get(ra.id), seen).toBe('dead');
    expect(judged.get(rb.id)).toBe('dead');
    const pruned = await reg.prune();
    expect(pruned).toBe(rows.length); // the maya and houdini rows and the gateway's: all owned by the dead
    expect(await readServicesJson(dir)).toEqual([]);
    expect(existsSync(ra.sentinel)).toBe(false); // removed under its lock by the pruner
  }, 20_000);

  it("a wirecall row is alive for dcc-mcp-core's reader while its process lives, dead after SIGKILL, and pruned by the next dcc-mcp-core instance", async () => {
    venv.requireInstalled();
    const dir = scratch.dir();
    const w = wirecall(dir, 'blender', 1, 10);
    const ours = await ready(w);
    expect(pythonSeesAlive(dir)).toEqual({ [ours.id]: true });
    w.child.kill('SIGKILL');
    await exited(w.child);
    expect(existsSync(ours.sentinel)).toBe(true); // no exit handler ran: left, unlocked
    expect(pythonSeesAlive(dir)).toEqual({ [ours.id]: false });

    // A dcc-mcp-core instance starting in that directory prunes dead rows before its gateway election.
    const p = python(dir, await freePort(), 'maya');
    const theirs = await ready(p);
    await waitFor('the dead wirecall row to be pruned', async () => !idsOf(await readServicesJson(dir)).includes(ours.id));
    expect(idsOf(await readServicesJson(dir), 'maya')).toEqual([theirs.id]);
    p.child.stdin.end();
    await p.line('DONE');
  }, 20_000);
});
