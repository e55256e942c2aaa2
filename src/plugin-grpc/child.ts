/**
 * The plugin process as the gRPC host runs it: spawned with the handshake environment,
 * its first stdout line read within a timeout, stderr kept (a tail) and logged, its exit
 * awaited, signals sent. The connection and the controller are launch.ts's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { errorMessage } from '../util/error-message.js';
import { PluginExited, PluginHandshakeInvalid, PluginHandshakeTimeout, PluginStartFailed } from '../plugin/index.js';
import { LineTail, MAX_LINE, readLines } from '../plugin/lines.js';

/** How the process ended: an exit code, or the signal that ended it. */
export interface GrpcPluginExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  stderrLines: number;
  logger?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Removed when the process has exited. */
  socketDir?: string;
  killOnExit: boolean;
}

export class PluginProcess {
  readonly tail: LineTail;
  readonly exited: Promise<GrpcPluginExit>;
  status: GrpcPluginExit | undefined;
  private readonly child: ChildProcess;
  private spawnError: Error | undefined;
  private firstLine: ((line: string) => void) | undefined;
  private gotLine = false;
  private readonly stderrDone: Promise<void>;

  constructor(
    private readonly command: string,
    args: readonly string[],
    options: ChildOptions,
  ) {
    this.tail = new LineTail(options.stderrLines);
    const log = options.logger ?? (() => {});
    const removeDir = (): void => {
      if (options.socketDir !== undefined) rmSync(options.socketDir, { recursive: true, force: true });
    };
    try {
      // stdin: a pipe we hold and never write; when this process dies it closes (a wirecall plugin then exits).
      this.child = spawn(command, [...args], { env: options.env, stdio: ['pipe', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
    } catch (err) {
      removeDir();
      throw new PluginStartFailed(`cannot start plugin ${JSON.stringify(command)}: ${errorMessage(err)}`, { cause: err });
    }
    const child = this.child;
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.status = { code, signal };
        removeDir();
        resolveExit(this.status);
      });
      child.once('error', (err) => {
        this.spawnError = err;
        if (child.pid === undefined) {
          this.status = { code: null, signal: null };
          removeDir();
          resolveExit(this.status);
        }
      });
    });
    if (options.killOnExit) killOnExit(child, this.exited);
    child.stdin?.on('error', () => {});
    readLines(child.stdout!, (line) => {
      if (this.gotLine) return log(line, 'stdout');
      this.gotLine = true;
      this.firstLine?.(line);
    });
    this.stderrDone = new Promise((done) =>
      readLines(
        child.stderr!,
        (line) => {
          this.tail.push(line);
          log(line, 'stderr');
        },
        done,
      ),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The first stdout line, or a PluginError: exited, timed out, or could not start. */
  handshakeLine(timeout: number): Promise<string> {
    return new Promise((resolveLine, reject) => {
      const timer = Number.isFinite(timeout) ? setTimeout(() => reject(new PluginHandshakeTimeout(timeout, this.tail.snapshot())), timeout) : undefined;
      this.firstLine = (line) => {
        clearTimeout(timer);
        if (line.length >= MAX_LINE) reject(new PluginHandshakeInvalid(line, `longer than ${MAX_LINE} characters`));
        else resolveLine(line);
      };
      void this.exited.then(async (status) => {
        clearTimeout(timer);
        if (this.spawnError !== undefined && this.child.pid === undefined) {
          reject(new PluginStartFailed(`cannot start plugin ${JSON.stringify(this.command)}: ${this.spawnError.message}`, { cause: this.spawnError }));
          return;
        }
        // Its last words may still be in the pipe: wait a moment for stderr to end.
        await Promise.race([this.stderrDone, sleep(200)]);
        reject(new PluginExited(status.code, status.signal, this.tail.snapshot()));
      });
    });
  }

  /** Resolves true if the process exits within `ms`. */
  async exitsWithin(ms: number): Promise<boolean> {
    if (this.status !== undefined) return true;
    return Promise.race([this.exited.then(() => true), sleep(ms).then(() => false)]);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.status === undefined) this.child.kill(sig);
  }
}

/** Children to SIGTERM when this process exits (go-plugin's CleanupClients): one 'exit' listener for all. */
const running = new Set<ChildProcess>();
let exitHook = false;

function killOnExit(child: ChildProcess, exited: Promise<unknown>): void {
  running.add(child);
  void exited.then(() => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGTERM');
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
