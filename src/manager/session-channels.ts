/**
 * Session lifecycle as diagnostics_channel point events (docs/OBSERVABILITY.md). A
 * publish costs one `hasSubscribers` check while nobody listens.
 */
import { channel } from 'node:diagnostics_channel';
import type { SessionState } from './session-state.js';

/** What the session events carry as `session` (the Session object itself). */
export interface SessionLike {
  readonly id: string;
  readonly dccType: string;
  readonly instanceId: string;
  readonly state: SessionState;
}

/** `wirecall:session:open`: a session was created, its first connection open. */
export interface SessionOpenMessage {
  session: SessionLike;
}

/** `wirecall:session:state`: connected ⇄ idle / reconnecting, and closed. */
export interface SessionStateMessage {
  session: SessionLike;
  state: SessionState;
  previous: SessionState;
}

/** `wirecall:session:rebind`: the session now reaches another instance (`session.instanceId`). */
export interface SessionRebindMessage {
  session: SessionLike;
  previousInstanceId: string;
}

/** `wirecall:session:reconnect`: one connection attempt of a reconnecting (or waking) session ended. */
export interface SessionReconnectMessage {
  session: SessionLike;
  /** Attempts counted since the last successful connection (0 for a wake-up's first try). */
  attempt: number;
  /** Set when the attempt failed. */
  error?: unknown;
}

/** `wirecall:session:close`: closed for good, with why. */
export interface SessionCloseMessage {
  session: SessionLike;
  error: Error;
}

const openChannel = channel('wirecall:session:open');
const stateChannel = channel('wirecall:session:state');
const rebindChannel = channel('wirecall:session:rebind');
const closeChannel = channel('wirecall:session:close');
const reconnectChannel = channel('wirecall:session:reconnect');

export function sessionOpened(session: SessionLike): void {
  if (openChannel.hasSubscribers) openChannel.publish({ session } satisfies SessionOpenMessage);
}

export function sessionStateChanged(session: SessionLike, state: SessionState, previous: SessionState): void {
  if (stateChannel.hasSubscribers) stateChannel.publish({ session, state, previous } satisfies SessionStateMessage);
}

export function sessionRebound(session: SessionLike, previousInstanceId: string): void {
  if (rebindChannel.hasSubscribers) rebindChannel.publish({ session, previousInstanceId } satisfies SessionRebindMessage);
}

export function sessionReconnectAttempt(session: SessionLike, attempt: number, failed: boolean, error: unknown): void {
  if (!reconnectChannel.hasSubscribers) return;
  const message: SessionReconnectMessage = failed ? { session, attempt, error } : { session, attempt };
  reconnectChannel.publish(message);
}

export function sessionClosed(session: SessionLike, error: Error): void {
  if (closeChannel.hasSubscribers) closeChannel.publish({ session, error } satisfies SessionCloseMessage);
}
