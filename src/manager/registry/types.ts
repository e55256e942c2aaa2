/**
 * The service registry seam. The file-based backend (services.json, shared by many
 * processes and by dcc-mcp-core's Python tools) is the embedded default; a distributed
 * backend (Redis, say) implements the same interface in a file of its own.
 *
 * Field names of `ServiceEntry` are TypeScript-style; the on-disk names are the
 * dcc-mcp-core ones (snake_case), converted by the file backend only.
 */
import type { Endpoint } from '../../transport/endpoint.js';

export type ServiceStatus = 'available' | 'busy' | 'unreachable' | 'shutting_down' | 'booting' | 'stale';

export const SERVICE_STATUSES: readonly ServiceStatus[] = [
  'available',
  'busy',
  'unreachable',
  'shutting_down',
  'booting',
  'stale',
];

/** Where an instance listens, in the registry's own vocabulary (dcc-mcp-core's transport_address). */
export type TransportAddress =
  | { type: 'tcp'; host: string; port: number }
  | { type: 'unix_socket'; path: string }
  | { type: 'named_pipe'; path: string };

export interface ServiceEntry {
  dccType: string;
  /** Hyphenated UUID v4. */
  instanceId: string;
  /** For IPC entries "127.0.0.1" (dcc-mcp-core's convention). */
  host: string;
  /** For IPC entries 0. */
  port: number;
  transportAddress?: TransportAddress;
  /**
   * The instance serves TLS on its TCP endpoint (registered with a `tls://` endpoint):
   * clients connect with TLS without being told. Written as
   * `"extras": {"wirecall": {"tls": true}}` (dcc-mcp-core's field for any JSON about an
   * instance, which its rewrites keep); absent otherwise.
   */
  tls?: true;
  version: string | null;
  scene: string | null;
  /** Process id on `host`; a row whose pid is dead on this machine is dead. */
  pid?: number;
  /**
   * dcc-mcp-core's sentinel lock file (`<dir>/locks/<dcc_type>-<instance_id>.lock`),
   * held by the owner while it lives: a row whose sentinel can be locked is dead.
   * The file registry sets it on rows it registers for this process.
   */
  sentinelPath?: string;
  metadata: Record<string, unknown>;
  /** Milliseconds since the Unix epoch (sub-ms precision kept as a fraction). */
  registeredAt: number;
  lastHeartbeat: number;
  status: ServiceStatus;
  /** Schema version of the row (1 for rows we write; 0 when missing). */
  schemaVersion: number;
  /** Fields this version does not know (display_name, documents, extras, …): kept on rewrite. */
  extra?: Record<string, unknown>;
}

export interface RegisterOptions {
  version?: string | null;
  scene?: string | null;
  /**
   * String values only: dcc-mcp-core reads `metadata` as strings and sets a services.json
   * holding anything else aside as corrupt (every row in it lost). Structured data goes in
   * `extra: { extras: {...} }`, which it keeps as any JSON.
   */
  metadata?: Record<string, string>;
  /** Use this id instead of a fresh UUID v4 (re-registration after a restart). */
  instanceId?: string;
  status?: ServiceStatus;
  /** Defaults to process.pid. */
  pid?: number;
  /**
   * Extra top-level fields written verbatim into the row (dcc-mcp-core's display_name,
   * documents, extras…). Must be JSON values; keys that name a known field are ignored.
   */
  extra?: Record<string, unknown>;
}

/** What a registry needs to know about liveness. */
export interface LivenessOptions {
  /** Rows whose last heartbeat is older than this many ms are stale (3 × heartbeat interval). */
  staleAfterMs: number;
}

export interface ServiceRegistry {
  /** Adds a row; fails with ServiceAlreadyRegistered if (dccType, instanceId) exists and is live. */
  register(dccType: string, endpoint: Endpoint, options?: RegisterOptions): Promise<ServiceEntry>;
  /** Removes the row; false if it was not there. */
  deregister(dccType: string, instanceId: string): Promise<boolean>;
  /** Live rows of one DCC type (stale and dead-pid rows are never returned). */
  listInstances(dccType: string): Promise<ServiceEntry[]>;
  /** Every live row. */
  listAll(): Promise<ServiceEntry[]>;
  /** One row, live or not (stale or dead-pid included); undefined if absent. */
  get(dccType: string, instanceId: string): Promise<ServiceEntry | undefined>;
  /** Refreshes last_heartbeat (a stale row becomes live again); false if the row is gone. */
  heartbeat(dccType: string, instanceId: string): Promise<boolean>;
  /** false if the row is gone. */
  setStatus(dccType: string, instanceId: string, status: ServiceStatus): Promise<boolean>;
  /** Removes stale and dead rows; returns how many. */
  prune(): Promise<number>;
  close(): Promise<void>;
  /** A consistent snapshot, then every change in order (see RegistryEvent); only DCC type `dccType` when given. */
  watch?(dccType?: string, options?: WatchOptions): AsyncIterable<RegistryEvent>;
}

/**
 * What a registry watch yields: first a `snapshot` (the live rows and the revision they
 * are current at), then each change in order. A watch that fell behind (its backend
 * dropped changes it had not read) yields a new `snapshot` with `resync: true`: the
 * reader replaces what it knew with it.
 */
export type RegistryEvent =
  | { type: 'snapshot'; revision: number; entries: ServiceEntry[]; resync: boolean }
  /** Registered (or registered again after its lease ran out). */
  | { type: 'up'; revision: number; entry: ServiceEntry }
  /** Its status changed. */
  | { type: 'status'; revision: number; entry: ServiceEntry }
  /** Deregistered (`down`) or its lease ran out (`expire`); `entry` as last seen, when it was. */
  | { type: 'down' | 'expire'; revision: number; dccType: string; instanceId: string; entry?: ServiceEntry };

export interface WatchOptions {
  /** Ends the watch (the iterator returns). */
  signal?: AbortSignal;
}
