/**
 * Which instance of a DCC type to talk to.
 *
 * Only instances that are `available` or `busy` are ever picked (never unreachable,
 * shutting_down, booting or stale). Candidates are ranked: IPC (Unix socket, named
 * pipe) before TCP on this host before TCP elsewhere, then available before busy, then
 * oldest registration first. A strategy then chooses among the ranked candidates.
 */
import { InvalidOption, ServiceNotFound } from '../errors.js';
import { locality } from './registry/address.js';
import type { ServiceEntry, ServiceStatus } from './registry/types.js';

export type RoutingStrategy = 'first_available' | 'round_robin' | 'least_busy' | 'specific' | 'scene_match' | 'random';

export const ROUTING_STRATEGIES: readonly RoutingStrategy[] = [
  'first_available',
  'round_robin',
  'least_busy',
  'specific',
  'scene_match',
  'random',
];

export interface RouteOptions {
  /** Default: the manager's (first_available), `specific` when `instanceId` is given, `scene_match` when `scene` is. */
  strategy?: RoutingStrategy;
  /** A full instance id or a unique prefix of one (for `specific`). */
  instanceId?: string;
  /** The scene to match exactly (for `scene_match`). */
  scene?: string;
}

const ROUTABLE: ReadonlySet<ServiceStatus> = new Set<ServiceStatus>(['available', 'busy']);

export function isRoutable(entry: Pick<ServiceEntry, 'status'>): boolean {
  return ROUTABLE.has(entry.status);
}

/** Routable entries, best first. */
export function rankInstances(entries: readonly ServiceEntry[]): ServiceEntry[] {
  return entries
    .filter(isRoutable)
    .map((entry) => ({ entry, where: locality(entry) }))
    .sort(
      (a, b) =>
        a.where - b.where ||
        Number(a.entry.status === 'busy') - Number(b.entry.status === 'busy') ||
        a.entry.registeredAt - b.entry.registeredAt ||
        (a.entry.instanceId < b.entry.instanceId ? -1 : a.entry.instanceId > b.entry.instanceId ? 1 : 0),
    )
    .map(({ entry }) => entry);
}

/**
 * The one entry whose id is `idOrPrefix` or starts with it. Throws ServiceNotFound when
 * nothing matches or when a prefix matches several (the message lists them).
 */
export function matchInstanceId(dccType: string, entries: readonly ServiceEntry[], idOrPrefix: string): ServiceEntry {
  const wanted = idOrPrefix.toLowerCase();
  const exact = entries.find((e) => e.instanceId.toLowerCase() === wanted);
  if (exact !== undefined) return exact;
  const matches = wanted === '' ? [] : entries.filter((e) => e.instanceId.toLowerCase().startsWith(wanted));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new ServiceNotFound(
      `instance id prefix "${idOrPrefix}" of ${dccType} is ambiguous: it matches ${matches.map((e) => e.instanceId).sort().join(', ')}`,
    );
  }
  throw new ServiceNotFound(`no live ${dccType} instance with id ${idOrPrefix}`);
}

/** Explains an empty candidate list: which rows exist and why none could be used. */
function notFound(dccType: string, entries: readonly ServiceEntry[], what = `no live instance of ${dccType}`): ServiceNotFound {
  if (entries.length === 0) return new ServiceNotFound(`${what} is registered`);
  const rows = entries.map((e) => `${e.instanceId.slice(0, 8)} ${e.status}`).join(', ');
  return new ServiceNotFound(`${what} can take calls (${rows})`);
}

export interface RouterOptions {
  strategy?: RoutingStrategy;
  /** Randomness in [0, 1) for `random`; Math.random by default. */
  random?: () => number;
}

/** Chooses instances; remembers the round-robin position per DCC type. */
export class Router {
  readonly strategy: RoutingStrategy;
  private readonly random: () => number;
  private readonly turns = new Map<string, number>();

  constructor(options: RouterOptions = {}) {
    this.strategy = options.strategy ?? 'first_available';
    this.random = options.random ?? Math.random;
  }

  /** The strategy a request uses. */
  strategyFor(route: RouteOptions): RoutingStrategy {
    if (route.strategy !== undefined) return route.strategy;
    if (route.instanceId !== undefined) return 'specific';
    if (route.scene !== undefined) return 'scene_match';
    return this.strategy;
  }

  /** The chosen instance. Throws ServiceNotFound when no instance qualifies. */
  pick(dccType: string, entries: readonly ServiceEntry[], route: RouteOptions = {}, load?: (entry: ServiceEntry) => number): ServiceEntry {
    return this.order(dccType, entries, route, load)[0]!;
  }

  /**
   * Every qualifying instance, the chosen one first and the others after it in rank
   * order: the fallbacks to try when the chosen one cannot be reached. Never empty.
   */
  order(dccType: string, entries: readonly ServiceEntry[], route: RouteOptions = {}, load?: (entry: ServiceEntry) => number): ServiceEntry[] {
    const ranked = rankInstances(entries);
    const strategy = this.strategyFor(route);
    switch (strategy) {
      case 'specific': {
        if (route.instanceId === undefined) throw new InvalidOption('the specific routing strategy needs an instanceId');
        return [matchInstanceId(dccType, ranked, route.instanceId)];
      }
      case 'scene_match': {
        if (route.scene === undefined) throw new InvalidOption('the scene_match routing strategy needs a scene');
        const scene = route.scene;
        const matching = ranked.filter((e) => e.scene === scene);
        if (matching.length === 0) throw notFound(dccType, entries, `no live instance of ${dccType} with scene ${JSON.stringify(scene)}`);
        return matching;
      }
      default:
        break;
    }
    if (ranked.length === 0) throw notFound(dccType, entries);
    let chosen = 0;
    if (strategy === 'round_robin') {
      const turn = this.turns.get(dccType) ?? 0;
      this.turns.set(dccType, turn + 1);
      chosen = turn % ranked.length;
    } else if (strategy === 'least_busy') {
      const loads = ranked.map((e) => load?.(e) ?? 0);
      chosen = loads.indexOf(Math.min(...loads));
    } else if (strategy === 'random') {
      chosen = Math.min(ranked.length - 1, Math.floor(this.random() * ranked.length));
    }
    return [ranked[chosen]!, ...ranked.slice(0, chosen), ...ranked.slice(chosen + 1)];
  }
}
