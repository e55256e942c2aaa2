/**
 * The file registry against rows written by the real latest dcc-mcp-core (the venv
 * `npm run setup:interop` creates under .interop/, scripts/setup-interop.sh).
 *
 * fixtures/dcc_mcp_registrant.py registers a maya instance through the package's own
 * Python API (an McpHttpServer with registry_dir; it also registers its __gateway__ row),
 * prints the services.json it wrote and stops itself (SIGSTOP: pid alive, sentinel lock
 * held, no heartbeat). wirecall then lists those rows and rewrites the file (register,
 * heartbeat, status); every Python-written row must come out JSON-deep-equal. Finally
 * the Python side is resumed and shuts down: its own rewrite (deregistering its rows)
 * must keep wirecall's row as wirecall wrote it (its extras.wirecall.tls included: a
 * top-level field of its own it would drop).
 *
 * Without the venv: with CI=true the test fails; elsewhere it is skipped with one line.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileRegistry } from './file-registry.js';
import { readServicesJson } from '../../test-util/registry-files.js';
import { interopPeer, LATEST, PYTHON } from '../../test-util/interop.js';

const venv = interopPeer('dcc-mcp-core interop');
const REGISTRANT = fileURLToPath(new URL('./fixtures/dcc_mcp_registrant.py', import.meta.url));


type Row = Record<string, unknown>;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves with the first stdout line starting with `prefix`; rejects if the child exits first. */
function lineStartingWith(child: ChildProcessWithoutNullStreams, prefix: string, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith(prefix)) {
          child.stdout.off('data', onData);
          child.off('exit', onExit);
          resolve(line.slice(prefix.length));
          return;
        }
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`registrant exited (${code}) before ${prefix}: ${stderr().slice(-2000)}`));
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

describe.runIf(venv.run)(`file registry: rows written by dcc-mcp-core ${LATEST}`, () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams | undefined;

  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'wirecall-dcc-registry-'));
  });
  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
    child = undefined;
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('lists them, and they survive wirecall rewrites field by field; dcc-mcp-core keeps our row in its rewrite', async () => {
    venv.requireInstalled();
    let stderr = '';
    child = spawn(PYTHON, [REGISTRANT, dir, String(await freePort())], { env: { ...process.env, RUST_LOG: 'warn' } });
    child.stderr.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString('utf8')).slice(-20_000)));
    const snapshot = JSON.parse(await lineStartingWith(child, 'READY ', () => stderr)) as Row[];

    // What 0.20.x writes: the maya row and the gateway's, schema 1, with fields wirecall does not know.
    expect(await readServicesJson(dir)).toEqual(snapshot);
    const maya = snapshot.find((r) => r['dcc_type'] === 'maya')!;
    const gateway = snapshot.find((r) => r['dcc_type'] === '__gateway__')!;
    expect(maya).toMatchObject({
      schema_version: 1,
      host: '127.0.0.1',
      version: '2025.1',
      scene: '/proj/shot010.ma',
      pid: child.pid,
      adapter_dcc: 'maya',
      metadata: { renderer: 'arnold' },
      extras: { nested: { a: [1, 2.5, null] }, flag: true, unicode: 'シーン' },
      status: 'available',
    });
    expect(maya['sentinel_path']).toBe(path.join(dir, 'locks', `maya-${String(maya['instance_id'])}.lock`));
    expect(maya['registered_at']).toEqual({ secs_since_epoch: expect.any(Number), nanos_since_epoch: expect.any(Number) });
    expect(gateway).toMatchObject({ schema_version: 1, version: LATEST, display_name: expect.any(String) });

    // wirecall reads and lists them.
    const warnings: string[] = [];
    const reg = new FileRegistry({ dir, onWarning: (m) => warnings.push(m) });
    const listed = await reg.listAll();
    const mayaEntry = listed.find((e) => e.dccType === 'maya')!;
    expect(mayaEntry).toMatchObject({
      instanceId: maya['instance_id'],
      port: maya['port'],
      version: '2025.1',
      scene: '/proj/shot010.ma',
      pid: child.pid,
      status: 'available',
      schemaVersion: 1,
      sentinelPath: maya['sentinel_path'],
      extra: { adapter_dcc: 'maya', extras: maya['extras'] },
    });
    expect(listed.map((e) => e.dccType).sort()).toEqual(['__gateway__', 'maya']);

    // wirecall rewrites the file: register, heartbeat, status, deregister a second row.
    // Ours serves TLS: its row says so in extras ({"wirecall": {"tls": true}}), which dcc-mcp-core keeps.
    const ours = await reg.register('blender', { kind: 'tcp', host: '127.0.0.1', port: 4321, tls: true }, { scene: 's.blend' });
    const other = await reg.register('houdini', { kind: 'tcp', host: '127.0.0.1', port: 4322 });
    expect(await reg.heartbeat('blender', ours.instanceId)).toBe(true);
    expect(await reg.setStatus('blender', ours.instanceId, 'busy')).toBe(true);
    expect(await reg.deregister('houdini', other.instanceId)).toBe(true);
    const after = await readServicesJson(dir);
    expect(after.slice(0, snapshot.length)).toEqual(snapshot); // unchanged, in place, field by field
    expect(after.slice(0, snapshot.length).map((r) => Object.keys(r))).toEqual(snapshot.map((r) => Object.keys(r)));
    expect(after).toHaveLength(snapshot.length + 1);
    const ourRow = after[snapshot.length]!;
    expect(ourRow).toMatchObject({ dcc_type: 'blender', instance_id: ours.instanceId, status: 'busy', schema_version: 1, extras: { wirecall: { tls: true } } });
    expect(warnings).toEqual([]);

    // dcc-mcp-core's own rewrite (shutdown deregisters its rows) keeps ours as we wrote it.
    child.kill('SIGCONT');
    child.stdin.end();
    await lineStartingWith(child, 'DONE', () => stderr);
    const final = await readServicesJson(dir);
    expect(final.filter((r) => r['dcc_type'] === 'maya')).toEqual([]);
    expect(final.find((r) => r['dcc_type'] === 'blender')).toEqual(ourRow);
    await reg.close();
  }, 60_000);
});
