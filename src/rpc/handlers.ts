/** The handler registry: which method names a server or connection serves, and how (unary or a stream shape). */
import { InvalidOption } from '../errors.js';
import type { AnyHandler } from './contract.js';

/** How a method is called: a plain call, or one of the three stream shapes. */
export type MethodKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi-stream';

export interface MethodEntry {
  readonly kind: MethodKind;
  /** `(params, ctx)` for unary and server-stream methods, `(messages, params, ctx)` for the others. */
  readonly handler: AnyHandler;
}

/**
 * Method name → handler. A connection's registry falls back to its server's, so a
 * server registers once for all connections and a connection may add its own.
 */
export class HandlerRegistry {
  private readonly entries = new Map<string, MethodEntry>();
  private readonly parent: HandlerRegistry | undefined;

  constructor(parent?: HandlerRegistry) {
    this.parent = parent;
  }

  register(method: string, handler: AnyHandler, kind: MethodKind = 'unary'): void {
    if (typeof method !== 'string' || method.length === 0) throw new InvalidOption('method name must be a non-empty string');
    if (typeof handler !== 'function') throw new InvalidOption(`handler for ${JSON.stringify(method)} must be a function`);
    if (this.entries.has(method)) throw new InvalidOption(`method ${JSON.stringify(method)} is already registered`);
    this.entries.set(method, { kind, handler });
  }

  unregister(method: string): boolean {
    return this.entries.delete(method);
  }

  get(method: string): MethodEntry | undefined {
    return this.entries.get(method) ?? this.parent?.get(method);
  }

  /** Every method name visible through this registry, sorted. */
  methods(): string[] {
    const names = new Set(this.parent?.methods());
    for (const name of this.entries.keys()) names.add(name);
    return [...names].sort();
  }
}
