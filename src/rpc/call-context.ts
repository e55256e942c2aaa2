import type { Connection } from './connection.js';
import type { Contract } from './contract.js';

/** What one side learned about the other in the handshake. */
export interface PeerInfo {
  /** The peer's self-declared name (`name` option), e.g. `maya-bridge`. */
  readonly name: string;
  /** The peer's self-declared software version. */
  readonly version: string;
  /** Negotiated wirecall protocol version. */
  readonly protocolVersion: number;
  /** Server-assigned id of this connection, the same on both sides. */
  readonly connectionId: string;
  /** Where the peer is: `tcp://addr:port`, or the Unix/pipe endpoint. */
  readonly address: string;
  /** Largest frame payload the peer accepts, in bytes. */
  readonly maxFrameSize: number;
  /** The peer's heartbeat interval in ms (0: it sends none). */
  readonly heartbeatMs: number;
}

/** The second argument of every handler. */
export interface CallContext<Remote = Contract> {
  /** The method being called. */
  readonly method: string;
  /** The caller's call id; 0 for notifications. */
  readonly id: number;
  /** True for a notification: there is no caller waiting and the return value is dropped. */
  readonly isNotification: boolean;
  /** Aborts when the caller cancels, the deadline passes or the connection closes. */
  readonly signal: AbortSignal;
  /** Absolute deadline in `Date.now()` ms, or undefined when the caller set none. */
  readonly deadline: number | undefined;
  /** Who is calling. */
  readonly peer: PeerInfo;
  /** The connection the call came in on: call or notify the peer back through it. */
  readonly connection: Connection<Remote>;
}
