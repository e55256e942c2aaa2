/**
 * Many processes sharing one services.json. Children run the compiled build
 * (`npm run build`, which `npm test` runs first) through fixtures/registry-child.mjs.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { FileRegistry } from './file-registry.js';
import { DIST_FILE_REGISTRY, FIXTURES, readServicesJson } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';

const CHILDREN = 20;
const CHILD_SCRIPT = path.join(FIXTURES, 'registry-child.mjs');

interface ChildReport {
  dccType: string;
  kept: string[];
  removed: string;
}

const scratch = new Scratch();
afterEach(() => scratch.cleanup());

beforeAll(() => {
  if (!fs.existsSync(DIST_FILE_REGISTRY)) throw new Error(`${DIST_FILE_REGISTRY} is missing: run npm run build first`);
});

function runChild(dir: string, index: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD_SCRIPT, DIST_FILE_REGISTRY, dir, String(index), String(process.pid)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 50_000, // the child's own limit is 45 s; this one catches a hung start
      // About lost rows, not latency: 160 writes in one burst on a loaded CI machine may
      // keep one writer off services.lock for longer than dcc-mcp-core's 2 s default.
      env: { ...process.env, DCC_MCP_REGISTRY_LOCK_TIMEOUT_MS: '30000' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0 && err === '') resolve(JSON.parse(out) as ChildReport);
      else reject(new Error(`child ${index} exited with ${code ?? signal}; stderr: ${err}`));
    });
  });
}

it(`${CHILDREN} processes registering, heartbeating and deregistering at once lose nothing`, async () => {
  const dir = scratch.dir();
  const running = Promise.all(Array.from({ length: CHILDREN }, (_, i) => runChild(dir, i)));

  // Meanwhile, read without the lock: every read sees a whole file (never "corrupt").
  const warnings: string[] = [];
  const reader = new FileRegistry({ dir, onWarning: (m) => warnings.push(m) });
  let done = false;
  void running.finally(() => (done = true)).catch(() => {});
  let reads = 0;
  while (!done && reads < 10_000) {
    const rows = await reader.listAll();
    expect(rows.length).toBeLessThanOrEqual(CHILDREN * 3);
    reads++;
  }
  const reports = await running;
  expect(warnings).toEqual([]);

  const kept = reports.flatMap((r) => r.kept);
  const removed = reports.map((r) => r.removed);
  expect(kept).toHaveLength(CHILDREN * 2);

  const rows = await readServicesJson(dir);
  expect(rows.map((r) => r['instance_id']).sort()).toEqual([...kept].sort());
  for (const id of removed) expect(rows.some((r) => r['instance_id'] === id)).toBe(false);
  // Each child's own status change landed on its own row.
  for (const r of reports) {
    const busy = rows.find((row) => row['instance_id'] === r.kept[0]);
    expect(busy).toMatchObject({ dcc_type: r.dccType, status: 'busy' });
  }

  const reg = new FileRegistry({ dir, onWarning: (m) => expect.fail(m) });
  expect(await reg.listAll()).toHaveLength(CHILDREN * 2);
  expect(await reg.listInstances('dcc-0')).toHaveLength((CHILDREN / 4) * 2);
  // No temp files or services.json.lock left behind; services.lock stays, as dcc-mcp-core leaves it.
  // (The children register for our pid, not theirs: their rows have no sentinel, so no locks/.)
  expect(fs.readdirSync(dir).sort()).toEqual(['services.json', 'services.lock']);
}, 60_000); // usually 2-3 s: ~160 fsync'ed writes in turn; generous for slow CI disks
