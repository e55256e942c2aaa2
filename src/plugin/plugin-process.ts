/**
 * A plugin process as a host runs it: spawned with the handshake environment (stdin a
 * pipe the host holds open and never writes), its first stdout line read within a
 * timeout, stderr kept (a tail) and logged, its exit awaited (its socket directory removed
 * then), and signals sent. The connection on top is each host's own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../util/error-message.js';
import { PluginExited, PluginHandshakeInvalid, PluginHandshakeTimeout, PluginStartFailed } from './errors.js';
import { removeDir } from './host-env.js';
import type { HostOptions } from './host-options.js';
import { killOnExit } from './kill-on-exit.js';
import { LineTail, MAX_LINE, readLines } from './lines.js';

/** How the process ended: an exit code, or the signal that ended it. */
export interface PluginExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What the host made for this start: the environment, the socket directory (removed once the process has exited), the checked stderrLines. */
export interface PluginStart {
  env: NodeJS.ProcessEnv;
  socketDir: string | undefined;
  stderrLines: number;
}

export class PluginProcess {
  readonly tail: LineTail;
  readonly exited: Promise<PluginExit>;
  status: PluginExit | undefined;
  private readonly child: ChildProcess;
  private spawnError: Error | undefined;
  private firstLine: ((line: string) => void) | undefined;
  private gotLine = false;
  private readonly stderrDone: Promise<void>;

  /** Spawns `command args…`; throws PluginStartFailed when spawn() itself throws. */
  constructor(
    private readonly command: string,
    args: readonly string[],
    options: Pick<HostOptions, 'cwd' | 'logger' | 'killOnExit'>,
    start: PluginStart,
  ) {
    this.tail = new LineTail(start.stderrLines);
    const log = options.logger ?? (() => {});
    try {
      // stdin stays a pipe we never write to: when this process dies it closes, and a wirecall plugin exits.
      this.child = spawn(command, [...args], { env: start.env, stdio: ['pipe', 'pipe', 'pipe'], ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
    } catch (err) {
      removeDir(start.socketDir);
      throw new PluginStartFailed(`cannot start plugin ${JSON.stringify(command)}: ${errorMessage(err)}`, { cause: err });
    }
    const child = this.child;
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.status = { code, signal };
        removeDir(start.socketDir);
        resolveExit(this.status);
      });
      child.once('error', (err) => {
        this.spawnError = err;
        // spawn failed: no 'exit' will come.
        if (child.pid === undefined) {
          this.status = { code: null, signal: null };
          removeDir(start.socketDir);
          resolveExit(this.status);
        }
      });
    });
    if (options.killOnExit !== false) killOnExit(child, this.exited);
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

  /** The first stdout line, or a PluginError: exited, timed out (Infinity: no limit), or could not start. */
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
        // Its last words may still be in the pipe: wait a moment for stderr to end (a held timer, so the error is reported).
        await Promise.race([this.stderrDone, new Promise((r) => setTimeout(r, 200))]);
        reject(new PluginExited(status.code, status.signal, this.tail.snapshot()));
      });
    });
  }

  /** Resolves true if the process exits within `ms` (at once if it has). */
  async exitsWithin(ms: number): Promise<boolean> {
    if (this.status !== undefined) return true;
    return Promise.race([this.exited.then(() => true), sleep(ms).then(() => false)]);
  }

  /** Sends `sig` unless it has exited. */
  signal(sig: NodeJS.Signals): void {
    if (this.status === undefined) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL if it still runs after `grace` ms; resolves to its exit and the signal that ended the wait. */
  async terminate(grace: number): Promise<PluginExit & { via: 'SIGTERM' | 'SIGKILL' }> {
    this.signal('SIGTERM');
    if (await this.exitsWithin(grace)) return { ...(await this.exited), via: 'SIGTERM' };
    this.signal('SIGKILL');
    return { ...(await this.exited), via: 'SIGKILL' };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
