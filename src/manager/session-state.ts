/**
 * The session state machine of dcc-mcp-core's TransportManager:
 *
 *   connected ──▶ idle | reconnecting | closed
 *   idle ───────▶ connected | reconnecting | closed
 *   reconnecting ▶ connected | closed
 *   closed        (terminal)
 *
 * Staying in the same state is not a transition and is refused like any other
 * transition the table does not list.
 */
import { InvalidSessionState } from '../errors.js';

export type SessionState = 'connected' | 'idle' | 'reconnecting' | 'closed';

export const SESSION_STATES: readonly SessionState[] = ['connected', 'idle', 'reconnecting', 'closed'];

export const SESSION_TRANSITIONS: Readonly<Record<SessionState, readonly SessionState[]>> = {
  connected: ['idle', 'reconnecting', 'closed'],
  idle: ['connected', 'reconnecting', 'closed'],
  reconnecting: ['connected', 'closed'],
  closed: [],
};

export function canTransition(from: SessionState, to: SessionState): boolean {
  return SESSION_TRANSITIONS[from].includes(to);
}

/** Throws InvalidSessionState unless `from → to` is in the table. */
export function assertTransition(sessionId: string, from: SessionState, to: SessionState): void {
  if (!canTransition(from, to)) {
    throw new InvalidSessionState(`session ${sessionId}: cannot go from ${from} to ${to}`);
  }
}
