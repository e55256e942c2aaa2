/**
 * What one test file makes and must undo: temp dirs, servers, sockets, child processes.
 * One Scratch per file, cleanup() in afterEach.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exited } from './wait.js';

/** A server, or anything else closed the same way. */
interface Closable {
  close(options?: { drainTimeout?: number }): Promise<unknown>;
}

export class Scratch {
  private readonly dirs: string[] = [];
  private readonly servers: Closable[] = [];
  private readonly sockets: Socket[] = [];
  private readonly children: ChildProcess[] = [];

  /** A fresh dir with a short path (Unix socket paths are limited to ~107 bytes). */
  dir(): string {
    const d = mkdtempSync(path.join(os.tmpdir(), 'wc-'));
    this.dirs.push(d);
    return d;
  }

  /** Closed (drain 100 ms) at cleanup. */
  server<S extends Closable>(server: S): S {
    this.servers.push(server);
    return server;
  }

  /** A raw socket, destroyed at cleanup. */
  socket<S extends Socket>(socket: S): S {
    this.sockets.push(socket);
    return socket;
  }

  /** SIGKILLed at cleanup if still running. */
  child<C extends ChildProcess>(child: C): C {
    this.children.push(child);
    return child;
  }

  async cleanup(): Promise<void> {
    for (const s of this.sockets.splice(0)) s.destroy();
    await Promise.all(this.servers.splice(0).map((s) => s.close({ drainTimeout: 100 })));
    await Promise.all(
      this.children.splice(0).map(async (c) => {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
          await exited(c);
        }
      }),
    );
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
