/** A node child running an inline ES module, and the first line it prints. */
import { spawn, type ChildProcess } from 'node:child_process';

/** Runs an ES module snippet in a new node process; `arg` arrives as process.env.WC_ARG. */
export function spawnNode(script: string, arg = '', options: { uid?: number; gid?: number } = {}): ChildProcess {
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WC_ARG: arg },
    ...options,
  });
}

/** The first stdout line of a child; rejects (with its stderr) if it exits first or after timeoutMs. */
export function firstLine(child: ChildProcess, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => finish(new Error(`no output within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    const onOut = (chunk: Buffer): void => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) finish(undefined, out.slice(0, nl));
    };
    const onErr = (chunk: Buffer): void => {
      err += chunk.toString();
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`child exited (${code ?? signal}) before printing; stderr: ${err}`));
    const finish = (e?: Error, line?: string): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve(line ?? '');
    };
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.once('exit', onExit);
  });
}
