/**
 * The CLI over the service registry: `serve --register`, `services`, and a DCC type as
 * the target of `call` and `ping`. Real child processes, a temp registry dir.
 */
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale } from '../test-util/build.js';
import { runCli, serveChild } from '../test-util/cli-child.js';
import { Scratch } from '../test-util/scratch.js';
import { exited } from '../test-util/wait.js';

const scratch = new Scratch();

beforeAll(buildIfStale, 120_000);
afterEach(() => scratch.cleanup());

describe('wirecall serve --register, services, call <dccType>', () => {
  it('registers, lists, resolves a DCC type for call and ping, and deregisters on SIGTERM', async () => {
    const dir = scratch.dir();
    const env = { WIRECALL_REGISTRY_DIR: dir };
    const s = await serveChild(scratch, dir, 'maya', 'tcp://127.0.0.1:0', ['--scene', 'shot010.mb']);
    expect(s.endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);

    const json = await runCli(['services', '--json'], env);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(rows).toEqual([
      expect.objectContaining({
        dccType: 'maya',
        instanceId: s.instanceId,
        endpoint: s.endpoint,
        status: 'available',
        liveness: 'live',
        scene: 'shot010.mb',
        pid: s.child.pid,
      }),
    ]);
    expect(JSON.parse((await runCli(['services', 'houdini', '--json'], env)).stdout)).toEqual([]);

    const table = await runCli(['services', 'maya'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^DCC TYPE +INSTANCE +ENDPOINT +STATUS +VERSION +SCENE +PID +HEARTBEAT$/);
    expect(lines[1]).toContain(`maya      ${s.instanceId}  ${s.endpoint}`);
    expect(lines).toHaveLength(2);

    expect(await runCli(['call', 'maya', 'echo', '"hi"'], env)).toMatchObject({ code: 0, stdout: '"hi"\n', stderr: '' });
    expect(await runCli(['call', 'maya', 'add', '{"a":2,"b":3}', '--instance', s.instanceId.slice(0, 8)], env)).toMatchObject({
      code: 0,
      stdout: '5\n',
    });
    // --registry-dir works without the environment variable.
    expect(await runCli(['call', 'maya', 'echo', '1', '--registry-dir', dir], { WIRECALL_REGISTRY_DIR: '' })).toMatchObject({
      code: 0,
      stdout: '1\n',
    });
    const ping = await runCli(['ping', 'maya'], env);
    expect(ping.code).toBe(0);
    expect(ping.stdout).toBe(`pong from ${s.endpoint}: time=${/time=(\d+\.\d{3})/.exec(ping.stdout)?.[1]} ms\n`);

    s.child.kill('SIGTERM');
    expect(await exited(s.child)).toEqual({ code: 0, signal: null });
    expect(JSON.parse((await runCli(['services', '--json', '--all'], env)).stdout)).toEqual([]);
  });

  it('a DCC type with no live instance is a usage error (exit 2) naming the registry', async () => {
    const dir = scratch.dir();
    const r = await runCli(['call', 'blender', 'echo'], { WIRECALL_REGISTRY_DIR: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`error: ERR_SERVICE_NOT_FOUND: no live instance of blender is registered (registry ${dir})\n`);
    const ping = await runCli(['ping', 'blender', '--registry-dir', dir]);
    expect(ping.code).toBe(2);
  });

  it('services --all shows a killed server as dead; without --all it is gone', async () => {
    const dir = scratch.dir();
    const env = { WIRECALL_REGISTRY_DIR: dir };
    const s = await serveChild(scratch, dir, 'houdini', `unix:${path.join(dir, 'h.sock')}`);
    s.child.kill('SIGKILL');
    await exited(s.child);
    expect(JSON.parse((await runCli(['services', '--json'], env)).stdout)).toEqual([]);
    const all = JSON.parse((await runCli(['services', '--json', '--all'], env)).stdout) as Array<Record<string, unknown>>;
    expect(all).toEqual([expect.objectContaining({ instanceId: s.instanceId, liveness: 'dead', endpoint: s.endpoint })]);
    const table = await runCli(['services', '--all'], env);
    expect(table.stdout.split('\n')[0]).toMatch(/HEARTBEAT +LIVENESS$/);
    expect(table.stdout.split('\n')[1]).toMatch(/ dead$/);
    // A killed server's row makes `call houdini` a usage error, not a hang.
    expect((await runCli(['call', 'houdini', 'echo'], env)).code).toBe(2);
  });

  it('services with an empty registry prints a "no services" line (table) or [] (--json)', async () => {
    const dir = scratch.dir();
    expect(await runCli(['services'], { WIRECALL_REGISTRY_DIR: dir })).toMatchObject({ code: 0, stdout: `no live services (registry ${dir})\n`, stderr: '' });
    expect(await runCli(['services', '--json'], { WIRECALL_REGISTRY_DIR: dir })).toMatchObject({ code: 0, stdout: '[]\n' });
  });
});
