/**
 * The package's entry points, as a user's `import` resolves them through package.json
 * `exports`: 'wirecall' loads none of the manager (nor the file locking it needs),
 * 'wirecall/manager' does. A child node process imports the compiled package by its
 * name while a loader hook reports every module it resolves.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../test-util/build.js';
import { resolvedBy } from '../test-util/node-hooks.js';

/** The URLs resolved while `import(specifier)` runs in a fresh node in the package root. */
const resolvedByImport = (specifier: string): Promise<string[]> => resolvedBy(`await import(${JSON.stringify(specifier)});`);

const MANAGER_ONLY = /\/node_modules\/(proper-lockfile|write-file-atomic)\/|\/dist\/src\/manager\//;
const OTEL_ONLY = /\/node_modules\/@opentelemetry\/|\/dist\/src\/otel\//;

beforeAll(buildIfStale, 120_000);

describe('entry points', () => {
  it("'wirecall' loads neither proper-lockfile nor write-file-atomic, nor any of the manager", async () => {
    const urls = await resolvedByImport('wirecall');
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/index\.js$/));
    expect(urls.filter((u) => MANAGER_ONLY.test(u))).toEqual([]);
    expect(urls.filter((u) => OTEL_ONLY.test(u))).toEqual([]);
  });

  it("'wirecall/otel' loads the otel subpath and @opentelemetry/api, and none of the manager", async () => {
    const urls = await resolvedByImport('wirecall/otel');
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/otel\/index\.js$/));
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/@opentelemetry\/api\//));
    expect(urls.filter((u) => MANAGER_ONLY.test(u))).toEqual([]);
  });

  it("'wirecall/manager' loads the manager and both (the check above would see them)", async () => {
    const urls = await resolvedByImport('wirecall/manager');
    expect(urls).toContainEqual(expect.stringMatching(/\/dist\/src\/manager\/index\.js$/));
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/proper-lockfile\//));
    expect(urls).toContainEqual(expect.stringMatching(/\/node_modules\/write-file-atomic\//));
  });
});
