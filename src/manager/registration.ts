/**
 * Keeping a process's own rows in the service registry: register, heartbeat each row
 * every interval (registering it again if it vanished: pruned while this process was
 * stalled past the stale limit), deregister. TransportManager keeps any number of rows
 * this way, serveRegistered() one.
 */
import { ServiceAlreadyRegistered, ShutdownError } from '../errors.js';
import { errorMessage } from '../util/error-message.js';
import type { Endpoint } from '../transport/endpoint.js';
import { FileRegistry } from './registry/file-registry.js';
import type { RegisterOptions, ServiceEntry, ServiceRegistry, ServiceStatus } from './registry/types.js';

/** What a server says about itself when it registers. */
export interface ServiceRegistration {
  version?: string | null;
  scene?: string | null;
  /** String values only (dcc-mcp-core shares the rows; see RegisterOptions.metadata). */
  metadata?: Record<string, string>;
  /** Re-register under a known id (after a restart) instead of a fresh UUID v4. */
  instanceId?: string;
  status?: ServiceStatus;
}

export interface RegistrySource {
  /** Use this registry (the caller closes it). */
  registry?: ServiceRegistry | undefined;
  /** Else a FileRegistry in this directory (default $WIRECALL_REGISTRY_DIR, else a per-user temp dir). */
  registryDir?: string | undefined;
  /** ms between heartbeats: a FileRegistry made here counts rows stale after 3 of them. */
  heartbeatInterval: number;
  onWarning: (message: string) => void;
}

/** The caller's registry, or a FileRegistry made for it; `owned` says the caller must close it. */
export function openRegistry(source: RegistrySource): { registry: ServiceRegistry; owned: boolean } {
  if (source.registry !== undefined) return { registry: source.registry, owned: false };
  const registry = new FileRegistry({
    staleAfterMs: 3 * source.heartbeatInterval,
    onWarning: source.onWarning,
    ...(source.registryDir === undefined ? {} : { dir: source.registryDir }),
  });
  return { registry, owned: true };
}

interface OwnRow {
  dccType: string;
  endpoint: Endpoint;
  /** As registered, with the instance id the registry gave. */
  options: RegisterOptions & { instanceId: string };
}

/** The rows this process registered, heartbeated until deregistered or closed. */
export class Registrations {
  private readonly rows = new Map<string, OwnRow>();
  private timer: NodeJS.Timeout | undefined;
  /** The heartbeat round in progress: rounds never overlap, and deregistering waits for it. */
  private beating: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly registry: ServiceRegistry,
    private readonly options: { heartbeatInterval: number; onWarning: (message: string) => void },
  ) {}

  /** Registers a row and heartbeats it from now on. */
  async register(dccType: string, endpoint: Endpoint, options: RegisterOptions = {}): Promise<ServiceEntry> {
    if (this.closed) throw new ShutdownError('the registrations are closed');
    const entry = await this.registry.register(dccType, endpoint, options);
    if (this.closed) {
      // Closed while registering: the row must not outlive us.
      await this.registry.deregister(dccType, entry.instanceId);
      throw new ShutdownError('the registrations are closed');
    }
    this.rows.set(key(dccType, entry.instanceId), { dccType, endpoint, options: { ...options, instanceId: entry.instanceId } });
    this.start();
    return entry;
  }

  /** Stops heartbeating the row and removes it from the registry (ours or not); false if it was not there. */
  async deregister(dccType: string, instanceId: string): Promise<boolean> {
    this.rows.delete(key(dccType, instanceId));
    if (this.rows.size === 0) this.stop();
    await this.beating; // a round in progress could otherwise put the row back
    return this.registry.deregister(dccType, instanceId);
  }

  /** Stops heartbeating and deregisters every row; a failure is reported to onWarning. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    const rows = [...this.rows.values()];
    this.rows.clear();
    await this.beating;
    const results = await Promise.allSettled(rows.map((r) => this.registry.deregister(r.dccType, r.options.instanceId)));
    for (const r of results) {
      if (r.status === 'rejected') this.options.onWarning(`deregistering on shutdown failed: ${errorMessage(r.reason)}`);
    }
  }

  private start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.beating ??= this.beat().finally(() => (this.beating = undefined));
    }, this.options.heartbeatInterval);
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One heartbeat of every row; a row that vanished is registered again. */
  private async beat(): Promise<void> {
    for (const [k, row] of [...this.rows]) {
      const { dccType } = row;
      const { instanceId } = row.options;
      try {
        if (await this.registry.heartbeat(dccType, instanceId)) continue;
        if (!this.rows.has(k)) continue; // deregistered meanwhile
        await this.registry.register(dccType, row.endpoint, row.options);
      } catch (err) {
        if (err instanceof ShutdownError || err instanceof ServiceAlreadyRegistered) continue;
        this.options.onWarning(`heartbeat of ${dccType} ${instanceId} failed: ${errorMessage(err)}`);
      }
    }
  }
}

function key(dccType: string, instanceId: string): string {
  return `${dccType}\u0000${instanceId}`;
}
