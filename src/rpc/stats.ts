/**
 * stats(): what a connection (and, summed, a server) has done and holds right now, read
 * from counters its parts keep anyway or bump once per call, stream or socket chunk.
 * A snapshot: plain numbers, safe to keep, log or diff.
 */
import type { ConnectionState } from './contract.js';
import type { ConnectionCore, CoreOwner } from './connection-core.js';

/** Totals since the connection was made. */
export interface ConnectionCounters {
  /** CALLs we sent. */
  callsMade: number;
  /** Of those, the ones that failed: an error answer, deadline, cancellation or the connection's end. */
  callsMadeFailed: number;
  /** CALLs the peer sent, refused ones included. */
  callsReceived: number;
  /** ERROR answers we sent to the peer's calls and streams (refusals, unknown methods, handler failures, deadlines). */
  errorsSent: number;
  /** Streams we opened. */
  streamsOpened: number;
  /** Streams the peer opened, refused ones included. */
  streamsAccepted: number;
  notificationsSent: number;
  notificationsReceived: number;
  /** Bytes read from the socket. */
  bytesIn: number;
  /** Bytes handed to the socket (frames; the handshake included). */
  bytesOut: number;
}

/** What is in flight and queued right now. */
export interface ConnectionLoad {
  /** Our calls awaiting their answer. */
  callsInFlight: number;
  /** The peer's calls our handlers are running. */
  callsActive: number;
  /** Streams open, both directions. */
  streamsOpen: number;
  /** Bytes written but not yet taken by the kernel (queued here and in the socket). */
  unsentBytes: number;
  /** Bytes of a frame still arriving. */
  partialFrameBytes: number;
}

export interface ConnectionStats extends ConnectionCounters, ConnectionLoad {
  state: ConnectionState;
  /** Reading is paused (our writes pile up unread, or too many notification handlers run). */
  readingPaused: boolean;
}

export function connectionStats<O extends CoreOwner>(core: ConnectionCore<O>): ConnectionStats {
  const { outgoing, incoming, streams } = core;
  return {
    state: core.state,
    callsMade: outgoing.made,
    callsMadeFailed: outgoing.failed,
    callsReceived: incoming.received,
    errorsSent: incoming.errorsSent,
    streamsOpened: streams.opened,
    streamsAccepted: streams.accepted,
    notificationsSent: outgoing.notified,
    notificationsReceived: incoming.notifications,
    bytesIn: core.bytesIn,
    bytesOut: core.out.bytesOut,
    callsInFlight: outgoing.size,
    callsActive: incoming.size,
    streamsOpen: streams.size,
    unsentBytes: core.unsentBytes,
    partialFrameBytes: core.partialFrameBytes,
    readingPaused: core.readingPaused,
  };
}

export const COUNTER_KEYS = [
  'callsMade',
  'callsMadeFailed',
  'callsReceived',
  'errorsSent',
  'streamsOpened',
  'streamsAccepted',
  'notificationsSent',
  'notificationsReceived',
  'bytesIn',
  'bytesOut',
] as const satisfies readonly (keyof ConnectionCounters)[];

export const LOAD_KEYS = ['callsInFlight', 'callsActive', 'streamsOpen', 'unsentBytes', 'partialFrameBytes'] as const satisfies readonly (keyof ConnectionLoad)[];

export function zeroCounters(): ConnectionCounters {
  return Object.fromEntries(COUNTER_KEYS.map((k) => [k, 0])) as unknown as ConnectionCounters;
}

export function zeroLoad(): ConnectionLoad {
  return Object.fromEntries(LOAD_KEYS.map((k) => [k, 0])) as unknown as ConnectionLoad;
}

/** Add `from`'s counters into `into`. */
export function addCounters(into: ConnectionCounters, from: ConnectionCounters): void {
  for (const k of COUNTER_KEYS) into[k] += from[k];
}

/** Add `from`'s load into `into`. */
export function addLoad(into: ConnectionLoad, from: ConnectionLoad): void {
  for (const k of LOAD_KEYS) into[k] += from[k];
}

/** Counters and load summed over connections: `retired` holds the totals of those already closed. */
export interface ConnectionTotals extends ConnectionCounters, ConnectionLoad {}

export function sumStats(stats: Iterable<ConnectionStats>, retired?: ConnectionCounters): ConnectionTotals {
  const out = { ...zeroCounters(), ...zeroLoad() };
  if (retired !== undefined) addCounters(out, retired);
  for (const s of stats) {
    addCounters(out, s);
    addLoad(out, s);
  }
  return out;
}
