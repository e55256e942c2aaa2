/**
 * The package's entry points, as a user's `import` resolves them through package.json
 * `exports`: 'wirecall' loads none of the manager (nor the file locking it needs),
 * 'wirecall/manager' does. A child node process imports the compiled package by its
 * name while a loader hook reports every module it resolves.
 */
import { execFile } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildIfStale } from '../test-util/build.js';

/** A resolve hook that writes every URL the loader resolves to stderr, one a line. */
const HOOKS = `
import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  writeSync(2, 'resolved ' + resolved.url + '\\n');
  return resolved;
}`;
const REGISTER_HOOKS = `import { register } from 'node:module'; register(${JSON.stringify(dataUrl(HOOKS))});`;

function dataUrl(source: string): string {
  return `data:text/javascript,${encodeURIComponent(source)}`;
}

/** The URLs resolved while `import(specifier)` runs in a fresh node in the package root. */
function resolvedBy(specifier: string): Promise<string[]> {
  const args = ['--import', dataUrl(REGISTER_HOOKS), '--input-type=module', '-e', `await import(${JSON.stringify(specifier)});`];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 20_000 }, (err, _stdout, stderr) => {
      if (err !== null) return reject(new Error(`${err.message}\n${stderr}`));
      const prefix = 'resolved ';
      resolve(stderr.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length)));
    });
  });
}

const MANAGER_ONLY = /\/node_modules\/(proper-lockfile|write-file-atomic)\/|\/dist\/src\/manager\//;
const OTEL_ONLY = /\/node_modules\/@opentelemetry\/|\/dist\/src\/otel\//;

beforeAll(buildIfStale, 120_000);

describe('entry points', () => {
  it("'wirecall' loads neither proper-lockfile nor write-file-atomic, nor any of the manager", async () => {
    const urls = await resolvedBy('wirecall');
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/index\.js$/));
    expect(urls.filter((u) => MANAGER_ONLY.test(u))).toEqual([]);
    expect(urls.filter((u) => OTEL_ONLY.test(u))).toEqual([]);
  });

  it("'wirecall/otel' loads the otel subpath and @opentelemetry/api, and none of the manager", async () => {
    const urls = await resolvedBy('wirecall/otel');
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/otel\/index\.js$/));
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/@opentelemetry\/api\//));
    expect(urls.filter((u) => MANAGER_ONLY.test(u))).toEqual([]);
  });

  it("'wirecall/manager' loads the manager and both (the check above would see them)", async () => {
    const urls = await resolvedBy('wirecall/manager');
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/manager\/index\.js$/));
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/proper-lockfile\//));
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/write-file-atomic\//));
  });
});
