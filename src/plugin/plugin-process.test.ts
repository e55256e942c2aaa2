/** PluginProcess with real `node -e` children: the first line, stderr, the socket directory, and terminate()'s escalation. */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../test-util/wait.js';
import { PluginExited } from './errors.js';
import { PluginProcess } from './plugin-process.js';

function start(script: string, logger?: (line: string, stream: 'stdout' | 'stderr') => void) {
  const socketDir = mkdtempSync(path.join(os.tmpdir(), 'plugin-process-test-'));
  const proc = new PluginProcess(process.execPath, ['-e', script], { logger, killOnExit: true }, { env: process.env, socketDir, stderrLines: 2 });
  return { proc, socketDir };
}

describe('PluginProcess', () => {
  it('reads the first stdout line, logs the rest and stderr, removes the socket directory at exit', async () => {
    const lines: string[] = [];
    const { proc, socketDir } = start("console.log('1|1|tcp|127.0.0.1:1|grpc'); console.log('after'); console.error('e1'); console.error('e2'); console.error('e3')", (l, s) =>
      lines.push(`${s}: ${l}`),
    );
    expect(await proc.handshakeLine(10_000)).toBe('1|1|tcp|127.0.0.1:1|grpc');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    // 'exit' may come before the pipes are drained.
    await waitFor('the last lines', () => lines.length === 4);
    expect(lines).toEqual(expect.arrayContaining(['stdout: after', 'stderr: e1', 'stderr: e3']));
    expect(proc.tail.snapshot()).toEqual(['e2', 'e3']);
    expect(existsSync(socketDir)).toBe(false);
  });

  it('an exit before any line: PluginExited with the stderr tail', async () => {
    const { proc } = start("console.error('no luck'); process.exit(3)");
    const err = await proc.handshakeLine(10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PluginExited);
    expect((err as PluginExited).stderr).toEqual(['no luck']);
  });

  it('terminate(): SIGTERM, then SIGKILL for one that ignores it', async () => {
    const polite = start("console.log('x'); setInterval(() => {}, 1000)").proc;
    await polite.handshakeLine(10_000);
    expect(await polite.terminate(5000)).toEqual({ code: null, signal: 'SIGTERM', via: 'SIGTERM' });
    const stubborn = start("process.on('SIGTERM', () => {}); console.log('x'); setInterval(() => {}, 1000)").proc;
    await stubborn.handshakeLine(10_000);
    expect(await stubborn.exitsWithin(50)).toBe(false);
    expect(await stubborn.terminate(200)).toEqual({ code: null, signal: 'SIGKILL', via: 'SIGKILL' });
    expect(await stubborn.exitsWithin(0)).toBe(true);
  });
});
