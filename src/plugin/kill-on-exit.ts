/**
 * go-plugin's CleanupClients: plugin processes still running when this process exits get
 * SIGTERM (for plugins that do not watch their host). One 'exit' listener serves them all.
 */
import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();
let exitHook = false;

/** SIGTERM `child` at our exit unless `exited` has settled by then. */
export function killOnExit(child: ChildProcess, exited: Promise<unknown>): void {
  running.add(child);
  void exited.then(() => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGTERM');
  });
}
