/**
 * Ending the process "by the signal" after our own cleanup, when nobody else handles it.
 *
 * A listener for SIGINT/SIGTERM replaces Node's default action (exit), so a library
 * that cleans up on a signal must re-raise it once it is the last one listening, or the
 * process would live on. The signal-exit package (loaded by proper-lockfile, which the
 * file registry uses) does the same dance with its own listener: it re-raises only when
 * it is alone. Were we to count it as "someone else handling the signal", each would
 * wait for the other and the process would never die. So its listeners do not count.
 */

/** How many listeners of each signal belong to loaded copies of signal-exit (v3 or v4). */
export function signalExitListeners(): number {
  const p = process as unknown as Record<string | symbol, { count?: unknown } | undefined>;
  let n = 0;
  for (const emitter of [p['__signal_exit_emitter__'], p[Symbol.for('signal-exit emitter')]]) {
    if (typeof emitter?.count === 'number') n += emitter.count;
  }
  return n;
}

/** True when no listener but signal-exit's is left for `signal`: the decision to exit is ours. */
export function nobodyElseHandles(signal: NodeJS.Signals): boolean {
  return process.listenerCount(signal) <= signalExitListeners();
}

/**
 * Re-raise `signal` so the process ends as the signal would have ended it (exit status
 * 128 + n to a shell). Call after removing your own listener.
 */
export function exitBySignal(signal: NodeJS.Signals): void {
  if (!nobodyElseHandles(signal)) return;
  process.kill(process.pid, signal);
  // Signal listeners do not keep the event loop alive: without this the process could
  // exit with 0 before a remaining (signal-exit) listener gets to re-raise the signal.
  setTimeout(() => {}, 1000);
}
