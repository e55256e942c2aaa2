/** Where the file registry lives by default (registry-dir.ts), through the FileRegistry. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Endpoint } from '../../transport/endpoint.js';
import { readServicesJson } from '../../test-util/registry-files.js';
import { Scratch } from '../../test-util/scratch.js';
import { FileRegistry, defaultRegistryDir } from './file-registry.js';

const TCP: Endpoint = { kind: 'tcp', host: '127.0.0.1', port: 18812 };
const scratch = new Scratch();
let dir: string;

beforeEach(() => {
  dir = scratch.dir();
});
afterEach(() => scratch.cleanup());

describe('the registry directory', () => {
  const VARS = ['WIRECALL_REGISTRY_DIR', 'DCC_MCP_REGISTRY_DIR', 'TMPDIR'];
  let saved: Record<string, string | undefined>;
  beforeEach(() => {
    saved = Object.fromEntries(VARS.map((k) => [k, process.env[k]]));
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('is $WIRECALL_REGISTRY_DIR when set (before $DCC_MCP_REGISTRY_DIR)', async () => {
    process.env['WIRECALL_REGISTRY_DIR'] = path.join(dir, 'from-env');
    process.env['DCC_MCP_REGISTRY_DIR'] = path.join(dir, 'from-dcc-env');
    expect(defaultRegistryDir()).toBe(path.join(dir, 'from-env'));
    const reg = new FileRegistry({ onWarning: () => {} });
    expect(reg.file).toBe(path.join(dir, 'from-env', 'services.json'));
    await reg.register('maya', TCP);
    expect(await readServicesJson(path.join(dir, 'from-env'))).toHaveLength(1);
  });

  it("else dcc-mcp-core's $DCC_MCP_REGISTRY_DIR", async () => {
    delete process.env['WIRECALL_REGISTRY_DIR'];
    process.env['DCC_MCP_REGISTRY_DIR'] = path.join(dir, 'from-dcc-env');
    expect(defaultRegistryDir()).toBe(path.join(dir, 'from-dcc-env'));
    process.env['WIRECALL_REGISTRY_DIR'] = '';
    expect(defaultRegistryDir()).toBe(path.join(dir, 'from-dcc-env'));
    expect(defaultRegistryDir({ DCC_MCP_REGISTRY_DIR: 'rel' })).toBe(path.resolve('rel'));
  });

  it('an explicit dir wins over both variables', async () => {
    process.env['WIRECALL_REGISTRY_DIR'] = path.join(dir, 'from-env');
    process.env['DCC_MCP_REGISTRY_DIR'] = path.join(dir, 'from-dcc-env');
    const reg = new FileRegistry({ dir: path.join(dir, 'explicit'), onWarning: () => {} });
    await reg.register('maya', TCP);
    expect(reg.file).toBe(path.join(dir, 'explicit', 'services.json'));
    expect(await readServicesJson(path.join(dir, 'explicit'))).toHaveLength(1);
  });

  it.runIf(process.platform !== 'win32')("else dcc-mcp-core's <tmpdir>/dcc-mcp-registry, refused when others can write to it", async () => {
    delete process.env['WIRECALL_REGISTRY_DIR'];
    delete process.env['DCC_MCP_REGISTRY_DIR'];
    process.env['TMPDIR'] = dir;
    const expected = path.join(os.tmpdir(), 'dcc-mcp-registry');
    expect(expected).toBe(path.join(dir, 'dcc-mcp-registry'));
    expect(defaultRegistryDir()).toBe(expected);
    const reg = new FileRegistry({ onWarning: () => {} });
    await reg.register('maya', TCP);
    expect((await fs.stat(expected)).mode & 0o777).toBe(0o700);

    // What dcc-mcp-core creates (0755) is fine; group/other write is not.
    await fs.chmod(expected, 0o755);
    expect(await new FileRegistry().listAll()).toHaveLength(1);
    await fs.chmod(expected, 0o777);
    await expect(new FileRegistry().listAll()).rejects.toThrow(/unsafe registry directory .*mode 777/);
  });
});
