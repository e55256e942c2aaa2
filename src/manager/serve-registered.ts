/**
 * The server side in one call: listen, register in the service registry, heartbeat
 * every `heartbeatInterval`, and deregister on close() and on SIGINT/SIGTERM.
 *
 *   const server = createServer({ name: 'maya-bridge' }).implement(methods);
 *   const service = await serveRegistered(server, { dccType: 'maya', scene: 'shot010.mb' });
 *   // … later
 *   await service.close(); // deregisters, then closes the server gracefully
 */
import { InvalidOption } from '../errors.js';
import type { Server } from '../rpc/server.js';
import type { Endpoint } from '../transport/endpoint.js';
import { errorMessage } from '../util/error-message.js';
import { exitBySignal } from '../transport/signals.js';
import { MANAGER_DEFAULTS, emitManagerWarning } from './options.js';
import { Registrations, openRegistry, type ServiceRegistration } from './registration.js';
import type { RegisterOptions, ServiceEntry } from './registry/types.js';
import { registryFromOption, type RegistryOption } from './registry-redis/open.js';
import { toEndpoint, type ServiceAddress } from './service-address.js';

export interface ServeRegisteredOptions extends ServiceRegistration {
  dccType: string;
  /** Where to listen; default a fresh private Unix socket. */
  endpoint?: string | Endpoint;
  /**
   * Advertise this address instead of the bound endpoint (e.g. a routable host when
   * listening on 0.0.0.0). A server listening with TLS is advertised with `tls` whatever
   * form this takes.
   */
  advertise?: ServiceAddress;
  /** Registry to use: a ServiceRegistry, a redis:// URL or a node-redis client; default $WIRECALL_REGISTRY, else a FileRegistry in `registryDir`. */
  registry?: RegistryOption;
  registryDir?: string;
  /** ms between registry heartbeats; default 5000 (rows are stale after 3 missed ones). */
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
  const onWarning = options.onWarning ?? emitManagerWarning;
  const heartbeatInterval = options.heartbeatInterval ?? MANAGER_DEFAULTS.registryHeartbeatInterval;
  if (!(Number.isFinite(heartbeatInterval) && heartbeatInterval > 0)) {
    throw new InvalidOption(`heartbeatInterval must be a finite number > 0 (ms), got ${heartbeatInterval}`);
  }

  const bound = await server.listen(options.endpoint);
  const { registry, owned } =
    registryFromOption(options.registry, { heartbeatInterval, onWarning }, options.registryDir === undefined) ??
    openRegistry({ registryDir: options.registryDir, heartbeatInterval, onWarning });
  const registrations = new Registrations(registry, { heartbeatInterval, onWarning });
  let entry: ServiceEntry;
  try {
    entry = await registrations.register(options.dccType, advertised(bound, options.advertise), registrationOf(options));
  } catch (err) {
    await server.close();
    if (owned) await registry.close();
    throw err;
  }
  const { dccType, instanceId } = entry;

  let deregistering: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const deregister = (): Promise<void> => {
    deregistering ??= (async () => {
      try {
        await registrations.deregister(dccType, instanceId);
      } finally {
        if (owned) await registry.close();
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
        onWarning(`deregistering ${dccType} ${instanceId} on ${signal} failed: ${errorMessage(err)}`);
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

/**
 * The endpoint to register: `advertise`, else the bound endpoint. A server that listens
 * with TLS is advertised as such whatever form `advertise` takes (a host and port, a
 * tcp:// URL), so its row says `tls` and clients use TLS without being told.
 */
function advertised(bound: string, advertise: ServiceAddress | undefined): Endpoint {
  const listening = toEndpoint(bound);
  const endpoint = advertise === undefined ? listening : toEndpoint(advertise);
  const servesTls = listening.kind === 'tcp' && listening.tls === true;
  return servesTls && endpoint.kind === 'tcp' && endpoint.tls !== true ? { ...endpoint, tls: true } : endpoint;
}

/** The registration fields of the options (the others say where and how to serve). */
function registrationOf(options: ServeRegisteredOptions): RegisterOptions {
  const registration: RegisterOptions = {};
  if (options.version !== undefined) registration.version = options.version;
  if (options.scene !== undefined) registration.scene = options.scene;
  if (options.metadata !== undefined) registration.metadata = options.metadata;
  if (options.instanceId !== undefined) registration.instanceId = options.instanceId;
  if (options.status !== undefined) registration.status = options.status;
  return registration;
}
