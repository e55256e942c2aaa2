/**
 * A plugin's life once it listens: it watches its host (stdin EOF, the parent pid) and
 * SIGTERM, prints the handshake line, and on shutdown runs onShutdown, or closes and exits 0.
 */
import { ENV_WATCH_STDIN } from './handshake.js';
import { watchParent } from './parent-watch.js';
import type { PluginSideOptions } from './serve-options.js';

export interface PluginLife {
  /** Stops watching the host and the signals, then runs `teardown`. Idempotent. */
  close(): Promise<void>;
  /** What the host going away, SIGTERM (and go-plugin's controller) call. */
  shutdown(reason: string): void;
}

/** Starts watching and prints `line` on stdout; `teardown` (from close()) closes the server. */
export function announceToHost(line: string, env: NodeJS.ProcessEnv, options: PluginSideOptions, teardown: () => Promise<void>): PluginLife {
  // Both exist before anything can call close().
  let stopWatching = (): void => {};
  let removeSignals = (): void => {};
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopWatching();
      removeSignals();
      await teardown();
    })();
    return closing;
  };
  const shutdown = (reason: string): void => {
    if (options.onShutdown !== undefined) {
      void Promise.resolve(options.onShutdown(reason)).catch(() => {});
      return;
    }
    void close()
      .catch(() => {})
      .finally(() => process.exit(0));
  };
  stopWatching = watchParent({ stdin: env[ENV_WATCH_STDIN] === '1', interval: options.parentPollInterval ?? 1000, onGone: shutdown });
  if (options.handleSignals !== false) removeSignals = signalHandlers(shutdown);
  // The one line the host reads; nothing may be printed on stdout before it.
  process.stdout.write(`${line}\n`);
  return { close, shutdown };
}

function signalHandlers(shutdown: (reason: string) => void): () => void {
  const onTerm = (): void => shutdown('SIGTERM');
  // Ctrl-C in a terminal reaches the whole process group: the host decides when we stop.
  const onInt = (): void => {};
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return () => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
  };
}
