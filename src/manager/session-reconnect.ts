/**
 * A session's reconnect loop. When the session's connection goes down without being
 * asked to (or a reconnect is begun by hand) the loop waits a backoff delay, asks the
 * manager where to go (the same instance if the registry still lists it as live, else,
 * when none was pinned, another live instance of the same DCC type, else the last
 * endpoint), connects, and hands the connection to the session. After
 * `reconnectMaxRetries` failed attempts it closes the session with ReconnectionFailed.
 * Waking an idle session is one attempt at once; the backoff starts only if it fails.
 */
import { InternalError, ReconnectionFailed } from '../errors.js';
import type { Connection } from '../rpc/connection.js';
import type { Endpoint } from '../transport/endpoint.js';
import { errorMessage } from '../util/error-message.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { sessionReconnectAttempt } from './session-channels.js';
import { assertTransition, type SessionState } from './session-state.js';

/** Where a session connects: one registered instance. */
export interface SessionTarget {
  instanceId: string;
  endpoint: Endpoint;
  host: string;
  port: number;
}

/** What the manager needs to know about a session to route its reconnects. */
export interface SessionRef {
  readonly id: string;
  readonly dccType: string;
  readonly instanceId: string;
  readonly pinned: boolean;
  readonly endpoint: Endpoint;
}

/** What a session needs from its manager. */
export interface SessionHooks {
  /** Opens a connection (handshake done) to `endpoint`; aborts with `signal`. */
  connect(endpoint: Endpoint, signal: AbortSignal): Promise<Connection>;
  /** Where to reconnect to. Never throws: falls back to the session's current target. */
  resolve(session: SessionRef): Promise<SessionTarget>;
}

export interface ReconnectConfig {
  /** Failed reconnect attempts allowed before the session closes with ReconnectionFailed. */
  reconnectMaxRetries: number;
  backoff: BackoffOptions;
}

/** What the loop needs from its session, handed over by the session itself. */
export interface ReconnectLink {
  readonly session: SessionRef & { readonly state: SessionState };
  transition(next: SessionState): void;
  /** Takes `connection`, which reaches `target`. */
  adopt(connection: Connection, target: SessionTarget): void;
  close(error: Error): void;
  /** Why an attempt failed (kept as the session's last error), and the last error so far. */
  noteFailure(error: unknown): void;
  lastFailure(): string | undefined;
  /** The loop ended: calls waiting for a connection look again. */
  ended(): void;
}

export class Reconnector {
  /** Attempts since the last successful (re)connection. */
  attempts = 0;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly link: ReconnectLink,
    private readonly config: ReconnectConfig,
    private readonly hooks: SessionHooks,
    /** Aborted when the session closes: stops the loop, its sleeps and connection attempts. */
    private readonly lifetime: AbortSignal,
  ) {}

  get running(): boolean {
    return this.loop !== undefined;
  }

  /**
   * Counts an attempt and returns its backoff delay (ms), moving the session to
   * reconnecting. Past `reconnectMaxRetries` attempts the session closes and this
   * throws ReconnectionFailed.
   */
  nextAttempt(): number {
    const { session } = this.link;
    if (session.state === 'closed') assertTransition(session.id, 'closed', 'reconnecting');
    this.attempts++;
    if (this.attempts > this.config.reconnectMaxRetries) {
      const last = this.link.lastFailure();
      const error = new ReconnectionFailed(
        `session ${session.id} to ${session.dccType} gave up after ${this.config.reconnectMaxRetries} reconnect attempts` +
          (last === undefined ? '' : ` (last error: ${last})`),
      );
      this.link.close(error);
      throw error;
    }
    if (session.state !== 'reconnecting') this.link.transition('reconnecting');
    return backoffDelay(this.attempts, this.config.backoff);
  }

  /** Reconnected: reconnecting → connected, attempt count reset. */
  succeeded(): void {
    this.link.transition('connected');
    this.attempts = 0;
  }

  /**
   * Runs the loop in the background unless it runs already or the session is closed.
   * `firstDelay`: an attempt was counted already, wait this long before it.
   * `immediate`: waking from idle, one attempt at once.
   */
  start(how: { firstDelay?: number; immediate?: boolean } = {}): void {
    if (this.loop !== undefined || this.link.session.state === 'closed') return;
    this.loop = this.run(how)
      .catch((err: unknown) => {
        // Not expected (the loop catches what it anticipates); never leave a session half-reconnecting.
        this.link.close(new InternalError(`session ${this.link.session.id}: reconnect loop failed: ${errorMessage(err)}`, { cause: err }));
      })
      .finally(() => {
        this.loop = undefined;
        // A loop cut short (succeeded() by hand) may leave waiting calls work to do.
        this.link.ended();
      });
  }

  /** Bounded: every pass counts an attempt, and nextAttempt() closes the session past the limit. */
  private async run(how: { firstDelay?: number; immediate?: boolean }): Promise<void> {
    const { session } = this.link;
    if (how.immediate === true) {
      if (await this.attempt()) {
        if (session.state === 'idle') this.link.transition('connected');
        return;
      }
      if (session.state !== 'idle') return;
    }
    let delay = how.firstDelay;
    for (;;) {
      if (delay === undefined) {
        try {
          delay = this.nextAttempt();
        } catch {
          return; // retries exhausted: the session is closed
        }
      }
      if (!(await sleep(delay, this.lifetime))) return;
      delay = undefined;
      // Someone else finished the job (succeeded() by hand) or closed the session.
      if (session.state !== 'reconnecting') return;
      if (await this.attempt()) {
        if (session.state === 'reconnecting') this.succeeded();
        return;
      }
      if (session.state !== 'reconnecting') return;
    }
  }

  /** One connection attempt to wherever the manager says; true when it succeeded. */
  private async attempt(): Promise<boolean> {
    const signal = this.lifetime;
    try {
      const target = await this.hooks.resolve(this.link.session);
      if (signal.aborted) return false;
      const connection = await this.hooks.connect(target.endpoint, signal);
      if (signal.aborted || this.link.session.state === 'closed') {
        connection.destroy();
        return false;
      }
      sessionReconnectAttempt(this.link.session, this.attempts, false, undefined);
      this.link.adopt(connection, target);
      return true;
    } catch (err) {
      this.link.noteFailure(err);
      sessionReconnectAttempt(this.link.session, this.attempts, true, err);
      return false;
    }
  }
}

/** Resolves true after `ms`, false at once if `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
