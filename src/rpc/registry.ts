import type { AnyHandler } from './contract.js';

/**
 * Method name → handler. A connection's registry falls back to its server's, so a
 * server registers once for all connections and a connection may add its own.
 */
export class HandlerRegistry {
  private readonly handlers = new Map<string, AnyHandler>();
  private readonly parent: HandlerRegistry | undefined;

  constructor(parent?: HandlerRegistry) {
    this.parent = parent;
  }

  register(method: string, handler: AnyHandler): void {
    if (typeof method !== 'string' || method.length === 0) throw new TypeError('method name must be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError(`handler for ${JSON.stringify(method)} must be a function`);
    if (this.handlers.has(method)) throw new Error(`method ${JSON.stringify(method)} is already registered`);
    this.handlers.set(method, handler);
  }

  unregister(method: string): boolean {
    return this.handlers.delete(method);
  }

  get(method: string): AnyHandler | undefined {
    return this.handlers.get(method) ?? this.parent?.get(method);
  }

  /** Every method name visible through this registry, sorted. */
  methods(): string[] {
    const names = new Set(this.parent?.methods());
    for (const name of this.handlers.keys()) names.add(name);
    return [...names].sort();
  }
}
