/** Test helpers for the registry: temp dirs, fixtures, a dead pid, the compiled build for children. */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.join(HERE, '..', 'fixtures');
/** What `npm run build` makes of file-registry.ts; children import it. */
export const DIST_FILE_REGISTRY = path.resolve(HERE, '../../../../dist/src/manager/registry/file-registry.js');

/** Temp dirs made by one test file; cleanup() in afterEach. */
export class Scratch {
  private readonly dirs: string[] = [];

  async dir(): Promise<string> {
    const d = await fs.mkdtemp(path.join(os.tmpdir(), 'wcreg-'));
    this.dirs.push(d);
    return d;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
  }
}

export async function readFixture(name: string): Promise<string> {
  return fs.readFile(path.join(FIXTURES, name), 'utf8');
}

/** Copies a fixture into `dir` as services.json. */
export async function installFixture(dir: string, name: string): Promise<void> {
  await fs.copyFile(path.join(FIXTURES, name), path.join(dir, 'services.json'));
}

export async function readServicesJson(dir: string): Promise<Array<Record<string, unknown>>> {
  return JSON.parse(await fs.readFile(path.join(dir, 'services.json'), 'utf8')) as Array<Record<string, unknown>>;
}

/** The pid of a process that has exited and been reaped (killed with SIGKILL). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn a child');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  return pid;
}
