/**
 * How a connection opens: the dialect a server's client speaks (from its first bytes,
 * or its silence), the HELLO / WELCOME / REJECT exchange of the native protocol, and the
 * handshake timeout. handshake.ts decides the content; this runs the exchange and tells
 * the connection the outcome.
 */
import { HandshakeRejected, HandshakeTimeout, ProtocolError, type TransportError } from '../errors.js';
import { encodeDccPing, encodeDccShutdown, newEnvelopeId } from '../wire/dcc-mcp.js';
import type { Dialect } from '../wire/detect-dialect.js';
import { encodeHello, encodeReject, encodeWelcome } from '../wire/encode.js';
import { MessageType, RejectReason, type Hello, type NativeMessage, type Welcome } from '../wire/native.js';
import type { PeerInfo } from './contract.js';
import type { Window } from './flow.js';
import { admit, clientHello, clientInfo, serverInfo, serverWelcome, welcomeProblem, type Admission } from './handshake.js';
import { peerWindow, type ResolvedOptions } from './options.js';
import type { Outbox } from './outbox.js';

export type Role = 'client' | 'server';

/** What the opening needs from its connection. */
export interface OpeningLink {
  readonly options: ResolvedOptions;
  readonly out: Outbox;
  /** Still opening (PENDING): answers that come late (a slow `authenticate`) are dropped otherwise. */
  readonly pending: boolean;
  /** Any byte arrived from the peer. */
  readonly heardAnything: boolean;
  /** The credit the peer grants our streams, from its handshake. */
  setPeerWindow(window: Window): void;
  /** Open, with what we know of the peer. */
  established(peer: PeerInfo): void;
  /** Open in dcc-mcp-core's envelope (no handshake). */
  speakDccMcp(): void;
  /** Open in DCC-Link (no handshake). */
  speakDccLink(): void;
  /** Turned away: send `lastFrame`, then hang up. */
  refuse(error: TransportError, lastFrame: Buffer): void;
  /** Fail and hang up, telling the peer why if `tellPeer`. */
  cut(error: TransportError, tellPeer: boolean): void;
}

export class Opening {
  private timer: NodeJS.Timeout | undefined;
  private helloSeen = false;
  /** A silent client was sent a dcc-mcp ping (see onTimeout). */
  private probed = false;

  constructor(
    private readonly link: OpeningLink,
    private readonly role: Role,
    private readonly address: string,
  ) {}

  /** A server that has heard no HELLO yet. */
  get awaitingHello(): boolean {
    return this.role === 'server' && !this.helloSeen;
  }

  start(): void {
    const o = this.link.options;
    this.timer = setTimeout(this.onTimeout, o.handshakeTimeout);
    this.timer.unref();
    if (this.role === 'server') return;
    if (o.dialect === 'dcc-mcp') this.link.speakDccMcp();
    else if (o.dialect === 'dcc-link') this.link.speakDccLink();
    else this.link.out.write(encodeHello(clientHello(o)));
  }

  /** Open or over: the timeout no longer applies. */
  stop(): void {
    clearTimeout(this.timer);
  }

  private readonly onTimeout = (): void => {
    const link = this.link;
    const { dialects, handshakeTimeout } = link.options;
    // A wirecall client sends HELLO at once; a dcc-mcp-core client sends nothing until it
    // has something to ask, but its channel answers a ping by itself. So a client silent
    // that long is asked (a dcc-mcp ping) and given as long again: its pong opens the
    // connection (the reader tells the dialect from it), while a socket that stays
    // silent is cut as before, only later. (A DCC-Link client answers nothing by itself:
    // where it is the only other dialect, silence is taken for it.)
    if (this.role === 'server' && !link.heardAnything) {
      if (dialects.has('dcc-mcp') && !this.probed) {
        this.probed = true;
        link.out.write(encodeDccPing(newEnvelopeId()));
        this.timer = setTimeout(this.onTimeout, handshakeTimeout);
        this.timer.unref();
        return;
      }
      if (!dialects.has('dcc-mcp') && dialects.has('dcc-link')) return link.speakDccLink();
    }
    const waited = this.probed ? `${2 * handshakeTimeout} ms (no HELLO, and no answer to a dcc-mcp-core ping after ${handshakeTimeout} ms)` : `${handshakeTimeout} ms`;
    link.cut(new HandshakeTimeout(`handshake did not complete within ${waited}`), false);
  };

  /** The dialect of the first bytes a client sent (a server's reader tells). */
  sniffed(dialect: Dialect | 'unknown'): void {
    const dialects = this.link.options.dialects;
    if (dialect === 'dcc-link') {
      if (dialects.has('dcc-link')) return this.link.speakDccLink();
      // Nothing can be said to it that it would take for a refusal: hang up.
      return this.link.cut(new ProtocolError("peer speaks DCC-Link; this server does not take it (dialects option: add 'dcc-link')"), false);
    }
    if (dialect === 'dcc-mcp') {
      if (dialects.has('dcc-mcp')) return this.link.speakDccMcp();
      // Said in the envelope: the only thing such a peer reads.
      const reason = "this server does not take dcc-mcp-core's envelope (dialects option)";
      return this.link.refuse(new ProtocolError(`peer speaks dcc-mcp-core's envelope; ${reason}`), encodeDccShutdown(reason));
    }
    if (!dialects.has('wirecall')) this.reject(RejectReason.PROTOCOL, "this server takes only dcc-mcp-core's envelope (dialects option)");
  }

  /** A native message before the connection is open. */
  message(m: NativeMessage): void {
    if (this.role === 'server' && m[0] === MessageType.HELLO && !this.helloSeen) {
      // Only one hello: anything else before our answer is a protocol violation.
      this.helloSeen = true;
      this.onHello(m[1]);
    } else if (this.role === 'client' && m[0] === MessageType.WELCOME) {
      this.onWelcome(m[1]);
    } else if (this.role === 'client' && m[0] === MessageType.REJECT) {
      this.link.cut(new HandshakeRejected(m[1], m[2]), false);
    } else {
      const expected = this.role === 'server' ? 'HELLO' : 'WELCOME or REJECT';
      this.link.cut(new ProtocolError(`expected ${expected} as the first frame, got message type ${m[0]}`), true);
    }
  }

  private onHello(hello: Hello): void {
    const verdict = admit(hello, this.link.options, this.address);
    if (verdict instanceof Promise) {
      void verdict.then((v) => {
        if (this.link.pending) this.answerHello(hello, v);
      });
    } else {
      this.answerHello(hello, verdict);
    }
  }

  private answerHello(hello: Hello, verdict: Admission): void {
    const link = this.link;
    const o = link.options;
    if (!verdict.ok) {
      // A failed token or authenticate check is answered after the delay the server's throttle asks for.
      const delay = verdict.auth ? (o.onAuthOutcome?.(false) ?? 0) : 0;
      if (delay <= 0) return this.reject(verdict.reason, verdict.message);
      setTimeout(() => {
        if (link.pending) this.reject(verdict.reason, verdict.message);
      }, delay).unref();
      return;
    }
    if (o.token !== undefined || o.authenticate !== undefined) o.onAuthOutcome?.(true);
    const welcome = serverWelcome(o, verdict.version);
    link.setPeerWindow(peerWindow(hello));
    link.out.write(encodeWelcome(welcome));
    link.established(clientInfo(hello, welcome, this.address, o.tlsPeer?.()));
  }

  private onWelcome(welcome: Welcome): void {
    const problem = welcomeProblem(welcome);
    if (problem !== undefined) return this.link.cut(new ProtocolError(problem), true);
    this.link.setPeerWindow(peerWindow(welcome));
    this.link.established(serverInfo(welcome, this.address, this.link.options.tlsPeer?.()));
  }

  private reject(reason: string, message: string): void {
    this.link.refuse(new HandshakeRejected(reason, message), encodeReject(reason, message));
  }
}
