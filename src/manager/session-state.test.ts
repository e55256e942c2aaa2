import { describe, expect, it } from 'vitest';
import { InvalidSessionState } from '../errors.js';
import { SESSION_STATES, assertTransition, canTransition, type SessionState } from './session-state.js';

/** The reference's table, written out pair by pair: [from, to, allowed]. */
const TABLE: Array<[SessionState, SessionState, boolean]> = [
  ['connected', 'connected', false],
  ['connected', 'idle', true],
  ['connected', 'reconnecting', true],
  ['connected', 'closed', true],
  ['idle', 'connected', true],
  ['idle', 'idle', false],
  ['idle', 'reconnecting', true],
  ['idle', 'closed', true],
  ['reconnecting', 'connected', true],
  ['reconnecting', 'idle', false],
  ['reconnecting', 'reconnecting', false],
  ['reconnecting', 'closed', true],
  ['closed', 'connected', false],
  ['closed', 'idle', false],
  ['closed', 'reconnecting', false],
  ['closed', 'closed', false],
];

describe('session state machine', () => {
  it('the table covers every pair of states', () => {
    expect(TABLE).toHaveLength(SESSION_STATES.length ** 2);
  });

  it.each(TABLE)('%s → %s allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
    if (allowed) {
      expect(() => assertTransition('s1', from, to)).not.toThrow();
    } else {
      expect(() => assertTransition('s1', from, to)).toThrow(InvalidSessionState);
      expect(() => assertTransition('s1', from, to)).toThrow(`session s1: cannot go from ${from} to ${to}`);
    }
  });
});
