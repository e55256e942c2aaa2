/** Test helpers: temp dirs, child processes, and a JS build of the transport for children. */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../', import.meta.url)); // <repo>/src/

/** Temp dirs and children created by a test file; call cleanup() in afterEach/afterAll. */
export class Scratch {
  private dirs: string[] = [];
  private children: ChildProcess[] = [];
  private sockets: net.Socket[] = [];

  /** A fresh dir under os.tmpdir() with a short name (Unix socket paths are short). */
  dir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'wct-'));
    this.dirs.push(d);
    return d;
  }

  track<T extends ChildProcess | net.Socket>(x: T): T {
    if (x instanceof net.Socket) this.sockets.push(x);
    else this.children.push(x as ChildProcess);
    return x;
  }

  async cleanup(): Promise<void> {
    for (const s of this.sockets.splice(0)) s.destroy();
    for (const c of this.children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await waitExit(c, 5_000).catch(() => undefined);
      }
    }
    for (const d of this.dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  }
}

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

export function waitExit(
  child: ChildProcess,
  timeoutMs = 10_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/**
 * Transpiles src/errors.ts, src/status.ts, src/util/*.ts and src/transport/*.ts (no tests)
 * into `outDir` so a child node process can import the real transport. Returns the file
 * URL of index.js.
 */
export function buildTransportForChildren(outDir: string): string {
  const dirs = ['util', 'transport'];
  const files = ['errors.ts', 'status.ts', ...dirs.flatMap((d) => fs.readdirSync(path.join(SRC, d)).map((f) => `${d}/${f}`))].filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  for (const d of dirs) fs.mkdirSync(path.join(outDir, d), { recursive: true });
  fs.writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  for (const f of files) {
    const source = fs.readFileSync(path.join(SRC, f), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: f,
    });
    fs.writeFileSync(path.join(outDir, f.replace(/\.ts$/, '.js')), outputText);
  }
  return pathToFileURL(path.join(outDir, 'transport', 'index.js')).href;
}

/** Writes bytes and reads back the same number of bytes (for echo servers). */
export async function echoRoundTrip(socket: net.Socket, payload: Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => done(new Error('echo timed out')), timeoutMs);
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size >= payload.length) done();
    };
    const onError = (e: Error): void => done(e);
    const done = (e?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      if (e) reject(e);
      else resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.write(payload);
  });
}

/** An onConnection that echoes and remembers the accepted sockets so tests can destroy them. */
export function echoServer(scratch: Scratch): (socket: net.Socket) => void {
  return (socket) => {
    scratch.track(socket);
    socket.on('error', () => {});
    socket.pipe(socket);
  };
}
