/**
 * The server side in one call: listen, register in the service registry, heartbeat
 * every `heartbeatInterval`, and deregister on close() and on SIGINT/SIGTERM.
 *
 *   const server = createServer({ name: 'maya-bridge' }).implement(methods);
 *   const service = await serveRegistered(server, { dccType: 'maya', scene: 'shot010.mb' });
 *   // … later
 *   await service.close(); // deregisters, then closes the server gracefully
 */
import { InvalidOption, ServiceAlreadyRegistered, ShutdownError } from '../errors.js';
import type { Server } from '../rpc/server.js';
import type { Endpoint } from '../transport/endpoint.js';
import { MANAGER_DEFAULTS } from './options.js';
import { FileRegistry } from './registry/file-registry.js';
import type { RegisterOptions, ServiceEntry, ServiceRegistry } from './registry/types.js';
import { toEndpoint, type ServiceAddress } from './service-address.js';
import type { ServiceRegistration } from './transport-manager.js';
import { exitBySignal } from '../transport/signals.js';

export interface ServeRegisteredOptions extends ServiceRegistration {
  dccType: string;
  /** Where to listen; default a fresh private Unix socket. */
  endpoint?: string | Endpoint;
  /** Advertise this address instead of the bound endpoint (e.g. a routable host when listening on 0.0.0.0). */
  advertise?: ServiceAddress;
  /** Registry to use; default a FileRegistry in `registryDir`. */
  registry?: ServiceRegistry;
  registryDir?: string;
  /** ms between heartbeats; default 5000 (rows are stale after 3 missed ones). */
  heartbeatInterval?: number;
  /** Deregister and close on SIGINT/SIGTERM, then let the signal end the process. Default true. */
  handleSignals?: boolean;
  /** Where background failures (a failed heartbeat) are reported. Default process.emitWarning. */
  onWarning?: (message: string) => void;
}

export interface RegisteredServer {
  readonly dccType: string;
  readonly instanceId: string;
  /** The endpoint the server is bound to. */
  readonly endpoint: string;
  /** The registry row as written. */
  readonly entry: ServiceEntry;
  /** Removes the registry row and stops heartbeating; the server keeps serving. Idempotent. */
  deregister(): Promise<void>;
  /** Deregisters, then closes the server gracefully (in-flight calls may finish). Idempotent. */
  close(options?: { drainTimeout?: number }): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function serveRegistered(server: Server<any, any>, options: ServeRegisteredOptions): Promise<RegisteredServer> {
  const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, { type: 'TransportManagerWarning' }));
  const heartbeatInterval = options.heartbeatInterval ?? MANAGER_DEFAULTS.heartbeatInterval;
  if (!(heartbeatInterval > 0)) throw new InvalidOption(`heartbeatInterval must be > 0 ms, got ${heartbeatInterval}`);
  const ownsRegistry = options.registry === undefined;
  const registry =
    options.registry ??
    new FileRegistry({
      staleAfterMs: 3 * heartbeatInterval,
      onWarning: warn,
      ...(options.registryDir === undefined ? {} : { dir: options.registryDir }),
    });

  const bound = await server.listen(options.endpoint);
  const advertised = toEndpoint(options.advertise ?? bound);
  const registration: RegisterOptions = {};
  for (const field of ['version', 'scene', 'metadata', 'instanceId', 'status'] as const) {
    if (options[field] !== undefined) (registration as Record<string, unknown>)[field] = options[field];
  }
  let entry: ServiceEntry;
  try {
    entry = await registry.register(options.dccType, advertised, registration);
  } catch (err) {
    await server.close();
    if (ownsRegistry) await registry.close();
    throw err;
  }
  const { dccType, instanceId } = entry;
  const again: RegisterOptions = { ...registration, instanceId };

  let deregistering: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const heartbeat = setInterval(() => {
    void (async () => {
      try {
        if (deregistering !== undefined || (await registry.heartbeat(dccType, instanceId))) return;
        // Our row was pruned (the process stalled past the stale limit): put it back.
        if (deregistering === undefined) await registry.register(dccType, advertised, again);
      } catch (err) {
        if (err instanceof ShutdownError || err instanceof ServiceAlreadyRegistered) return;
        warn(`heartbeat of ${dccType} ${instanceId} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    })();
  }, heartbeatInterval);
  heartbeat.unref();

  const deregister = (): Promise<void> => {
    deregistering ??= (async () => {
      clearInterval(heartbeat);
      try {
        await registry.deregister(dccType, instanceId);
      } finally {
        if (ownsRegistry) await registry.close();
      }
    })();
    return deregistering;
  };

  const close = (closeOptions: { drainTimeout?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      removeSignalHandlers();
      try {
        await deregister();
      } finally {
        await server.close(closeOptions);
      }
    })();
    return closing;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    removeSignalHandlers();
    // Then end the process as the signal would have, unless someone else handles it.
    close().then(
      () => exitBySignal(signal),
      (err: unknown) => {
        warn(`deregistering ${dccType} ${instanceId} on ${signal} failed: ${err instanceof Error ? err.message : String(err)}`);
        exitBySignal(signal);
      },
    );
  };
  const removeSignalHandlers = (): void => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
  if (options.handleSignals ?? true) for (const s of SIGNALS) process.on(s, onSignal);

  return { dccType, instanceId, endpoint: bound, entry, deregister, close };
}
