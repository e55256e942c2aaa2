/**
 * Sessions follow the registry's watch, where the registry has one of its own (Redis):
 * when an instance is deregistered or its lease runs out, the unpinned sessions on it
 * drop their connection and reconnect at once (to another live instance, see
 * SessionTable's reconnect target) instead of finding out at their next failed call or
 * missed ping. A host cut off the network keeps its TCP connections open for a long
 * time; its lease runs out within the TTL. Started with the first session; a watch that
 * fails is started again after a short pause.
 */
import { errorMessage } from '../util/error-message.js';
import type { RegistryEvent, ServiceRegistry } from './registry/types.js';
import type { SessionTable } from './sessions.js';

const RETRY_MS = 1000;

export class SessionWatch {
  private running = false;

  constructor(
    private readonly registry: ServiceRegistry,
    private readonly sessions: SessionTable,
    private readonly lifetime: AbortSignal,
    private readonly warn: (message: string) => void,
  ) {}

  /** Starts following the registry (once), if it can be watched. */
  ensure(): void {
    if (this.running || this.registry.watch === undefined || this.lifetime.aborted) return;
    this.running = true;
    void this.follow();
  }

  private async follow(): Promise<void> {
    while (!this.lifetime.aborted) {
      try {
        for await (const event of this.registry.watch!(undefined, { signal: this.lifetime })) this.apply(event);
      } catch (err) {
        if (this.lifetime.aborted) return;
        this.warn(`session watch: ${errorMessage(err)}`);
      }
      if (this.lifetime.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref());
    }
  }

  private apply(event: RegistryEvent): void {
    if (event.type === 'down' || event.type === 'expire') {
      this.drop((dccType, instanceId) => dccType === event.dccType && instanceId === event.instanceId);
    } else if (event.type === 'snapshot' && event.resync) {
      const live = new Set(event.entries.map((e) => `${e.dccType}\u0000${e.instanceId}`));
      this.drop((dccType, instanceId) => !live.has(`${dccType}\u0000${instanceId}`));
    }
  }

  /** Unpinned, connected sessions on a gone instance reconnect now. */
  private drop(gone: (dccType: string, instanceId: string) => boolean): void {
    for (const session of this.sessions.list()) {
      if (session.pinned || session.state !== 'connected' || !gone(session.dccType, session.instanceId)) continue;
      try {
        session.beginReconnect();
      } catch (err) {
        this.warn(`session ${session.id}: ${errorMessage(err)}`);
      }
    }
  }
}
