/**
 * `wirecall serve -v`: one line for every call and stream a client asks for, including
 * those the server cannot serve (no such method, or one of another kind), which the
 * library answers with METHOD_NOT_FOUND before any handler runs.
 *
 * The library has no hook for that (yet), so this watches the one place every incoming
 * call passes: the connection's handler lookup (`connection.registry.get`, which falls
 * back to the server's). A lookup that finds nothing is an unknown method. A lookup that
 * finds a method returns it with its handler wrapped to log the call with its params;
 * the library runs the handler in the same turn as the lookup, so a wrapped handler not
 * run by the next microtask was refused for its kind. Notifications look handlers up
 * too, but are logged by their own 'notification' event.
 */
import type { Connection, MethodEntry } from '../index.js';
import { toJsonLine } from './common.js';

type Lookup = (method: string) => MethodEntry | undefined;

/** Logs every call and stream opened on `connection` (call it on the server's 'connection' event). */
export function logCalls(connection: Connection<unknown, unknown>, log: (line: string) => void): void {
  const address = connection.peer?.address ?? 'unknown';
  const registry = connection.registry;
  const lookup: Lookup = registry.get.bind(registry);
  let notification: string | undefined;
  // Emitted just before a notification's lookup: that lookup is not a call.
  connection.prependListener('notification', (method) => (notification = method));
  registry.get = (method: string): MethodEntry | undefined => {
    const entry = lookup(method);
    if (notification !== undefined) {
      const notified = notification === method;
      notification = undefined;
      if (notified) return entry;
    }
    if (entry === undefined) {
      log(`call ${method} from ${address}: METHOD_NOT_FOUND (no such method)`);
      return undefined;
    }
    let ran = false;
    const line = (params: unknown): string =>
      `call ${method} ${toJsonLine(params)} from ${address}${entry.kind === 'unary' ? '' : ` (${entry.kind})`}`;
    const { handler } = entry;
    const wrapped =
      entry.kind === 'unary' || entry.kind === 'server-stream'
        ? (params: unknown, ctx: unknown) => {
            ran = true;
            log(line(params));
            return (handler as (...args: unknown[]) => unknown)(params, ctx);
          }
        : (messages: unknown, params: unknown, ctx: unknown) => {
            ran = true;
            log(line(params));
            return (handler as (...args: unknown[]) => unknown)(messages, params, ctx);
          };
    queueMicrotask(() => {
      if (!ran) log(`call ${method} from ${address}: METHOD_NOT_FOUND (a ${entry.kind} method, asked for as another kind)`);
    });
    return { kind: entry.kind, handler: wrapped as MethodEntry['handler'] };
  };
}
