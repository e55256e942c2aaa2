/**
 * A connection that speaks DCC-Link (dcc-mcp-core ≥ 0.14; docs/DCC-LINK.md) rather than
 * the native protocol. As for the envelope (dcc-mcp-bridge.ts), the rest of the
 * connection does not change: this bridge turns DCC-Link frames into the native messages
 * dispatch.ts routes (`translate`) and builds DCC-Link frames for what the parts send (it
 * is their `Frames`).
 *
 * The mapping (seq is the frame's u64):
 *   call(method, params)  → Call, seq = the call's id; its Reply (the result) or Err (a
 *                           RemoteError with the body as text) of the same seq ends it
 *   abort / deadline      → Cancel with the call's seq (a late Reply is dropped)
 *   Progress of that seq  → options.onProgress, else dropped
 *   the peer's Call       → the handler of the method in its body → Reply / Err, its seq
 *   the peer's Cancel     → the handler's `ctx.signal` aborts; nothing is answered
 *   notify(topic, data)   ⇄ Push, seq 0 (the topic is in the body, like a call's method)
 *   ping()                → Ping, seq = the ping's nonce, ended by the Pong of that seq
 *   the peer's Ping       → answered here with a Pong of its seq and body
 *   close                 → the socket closes; there is no shutdown frame
 * What goes in the bodies is dcc-link-codec.ts.
 */
import {
  DCC_LINK_HEADER,
  DCC_LINK_PREFIX,
  IPCKIT_MAX_MESSAGE,
  IPCKIT_PREFIX,
  encodeDccLink,
  encodeDccLinkCancel,
  encodeDccLinkFrame,
  type DccLinkFrame,
  type DccLinkFrameInput,
} from '../wire/dcc-link.js';
import { MAX_CALL_ID, MAX_UINT32, MessageType, type ErrorBody, type NativeMessage } from '../wire/native.js';
import { InternalError, InvalidArgument } from '../errors.js';
import { Status } from '../status.js';
import { decodeMethodBody, decodeResultBody, encodeMethodBody, encodeResultBody, type ResolvedDccLinkOptions } from './dcc-link-codec.js';
import type { Frames } from './frames.js';

/** What the bridge needs from its connection. */
export interface DccLinkBridgeLink {
  write(frame: Buffer): void;
  /** A Push with no method in its body, or an `onProgress` that threw: reported, not delivered. */
  handlerFailed(error: unknown, method: string): void;
}

/** A call of the peer's that we are handling. */
interface PeerCall {
  readonly seq: bigint;
  readonly method: string;
}

const EMPTY = Buffer.alloc(0);
const MAX_ID = BigInt(MAX_CALL_ID);

/**
 * One channel message; a frame over ipckit's 16 MiB is built all the same (with a prefix
 * that says so) so that the connection refuses it as too large for the peer rather than
 * as unencodable (`payloadSize` of it is the whole DCC-Link frame, what ipckit limits).
 */
function message(f: DccLinkFrameInput): Buffer {
  const size = DCC_LINK_PREFIX + DCC_LINK_HEADER + (f.body?.length ?? 0);
  if (size <= IPCKIT_MAX_MESSAGE) return encodeDccLink(f);
  const frame = encodeDccLinkFrame(f);
  const out = Buffer.allocUnsafe(IPCKIT_PREFIX + frame.length);
  out.writeUInt32LE(frame.length, 0);
  frame.copy(out, IPCKIT_PREFIX);
  return out;
}

export class DccLinkBridge implements Frames {
  readonly dialect = 'dcc-link' as const;
  /** Our calls awaiting an answer: id (= seq) → method. */
  private readonly sent = new Map<number, string>();
  /** The peer's calls we are handling: local id → its seq and method. */
  private readonly peerCalls = new Map<number, PeerCall>();
  /** The same by the peer's seq (for its Cancel); a seq reused while running points at the latest. */
  private readonly peerSeqs = new Map<bigint, number>();
  private nextPeerCall = 0;

  constructor(
    private readonly link: DccLinkBridgeLink,
    private readonly options: ResolvedDccLinkOptions,
  ) {}

  /** Calls of ours awaiting their Reply or Err. */
  get pendingCalls(): number {
    return this.sent.size;
  }

  /** Calls of the peer's being handled. */
  get peerCallsRunning(): number {
    return this.peerCalls.size;
  }

  // ------------------------------------------------------------- frames in

  /** The native message a frame stands for, or undefined when it needs nothing more (answered here, or dropped). */
  translate(f: DccLinkFrame): NativeMessage | undefined {
    switch (f.type) {
      case 'call':
        return this.onCall(f.seq, f.body);
      case 'reply':
      case 'err':
        return this.onAnswer(f);
      case 'progress':
        return this.onProgress(f.seq, f.body);
      case 'cancel': {
        const id = this.peerSeqs.get(f.seq);
        if (id === undefined) return undefined;
        this.forgetPeerCall(id);
        return [MessageType.CANCEL, id];
      }
      case 'push': {
        const got = decodeMethodBody(this.options.codec, f.body);
        if (typeof got === 'string') {
          this.link.handlerFailed(new InvalidArgument(`DCC-Link push body is ${got}`), '');
          return undefined;
        }
        return [MessageType.NOTIFY, got.method, got.params];
      }
      case 'ping':
        this.link.write(message({ type: 'pong', seq: f.seq, body: f.body }));
        return undefined;
      case 'pong':
        // seq 0 is the heartbeat's; the watchdog ignores nonces it does not wait for.
        return f.seq > 0n && f.seq <= BigInt(MAX_UINT32) ? [MessageType.PONG, Number(f.seq)] : undefined;
    }
  }

  private onCall(seq: bigint, body: Buffer): NativeMessage | undefined {
    const got = decodeMethodBody(this.options.codec, body);
    if (typeof got === 'string') {
      const expected = this.options.codec === 'json' ? '{"method": …, "params": …}' : '[method, params]';
      this.link.write(message({ type: 'err', seq, body: Buffer.from(`call body is ${got} (expected ${expected})`, 'utf8') }));
      return undefined;
    }
    let id = this.nextPeerCall;
    do id = id >= MAX_CALL_ID ? 1 : id + 1;
    while (this.peerCalls.has(id));
    this.nextPeerCall = id;
    this.peerCalls.set(id, { seq, method: got.method });
    this.peerSeqs.set(seq, id);
    return [MessageType.CALL, id, got.method, got.params, null];
  }

  private onAnswer(f: DccLinkFrame): NativeMessage | undefined {
    const id = f.seq <= MAX_ID ? Number(f.seq) : 0;
    const method = this.sent.get(id);
    if (method === undefined) return undefined; // a late answer (we gave up), or none of ours
    this.sent.delete(id);
    if (f.type === 'err') return [MessageType.ERROR, id, Status.METHOD_ERROR, { name: 'DccLinkError', message: f.body.toString('utf8') }];
    try {
      return [MessageType.RESULT, id, decodeResultBody(this.options.results, f.body)];
    } catch (err) {
      return [MessageType.ERROR, id, Status.SERVER_ERROR, { name: 'DecodeError', message: `reply of ${method} is ${(err as Error).message}` }];
    }
  }

  private onProgress(seq: bigint, body: Buffer): undefined {
    const onProgress = this.options.onProgress;
    const id = seq <= MAX_ID ? Number(seq) : 0;
    const method = this.sent.get(id);
    if (onProgress === undefined || method === undefined) return undefined;
    try {
      onProgress({ method, seq: id, body });
    } catch (err) {
      this.link.handlerFailed(err, method);
    }
    return undefined;
  }

  // ------------------------------------------------------------- frames out (Frames)

  /** A Call; its seq is the call's id, so its answer needs no map but `sent` (for the method). */
  call(id: number, method: string, params: unknown): Buffer {
    const frame = message({ type: 'call', seq: id, body: encodeMethodBody(this.options.codec, method, params) });
    // One too large is refused before it is sent (MessageTooLarge): nothing to answer.
    if (frame.length - IPCKIT_PREFIX <= IPCKIT_MAX_MESSAGE) this.sent.set(id, method);
    return frame;
  }

  result(id: number, value: unknown): Buffer {
    const call = this.peerCall(id);
    const frame = message({ type: 'reply', seq: call.seq, body: encodeResultBody(this.options.codec, value) });
    // Too big to send: the caller answers with error() instead, which needs the entry.
    if (frame.length - IPCKIT_PREFIX <= IPCKIT_MAX_MESSAGE) this.forgetPeerCall(id);
    return frame;
  }

  error(id: number, _status: number, body: ErrorBody): Buffer {
    const call = this.peerCall(id);
    this.forgetPeerCall(id);
    return message({ type: 'err', seq: call.seq, body: Buffer.from(body.message, 'utf8') });
  }

  /** We gave up on call `id`: the peer is told (it may ignore it), its late answer dropped. */
  cancel(id: number): Buffer | null {
    if (!this.sent.delete(id)) return null;
    return encodeDccLinkCancel(id);
  }

  notify(method: string, params: unknown): Buffer {
    return message({ type: 'push', seq: 0, body: encodeMethodBody(this.options.codec, method, params) });
  }

  ping(nonce: number): Buffer {
    return message({ type: 'ping', seq: nonce });
  }

  heartbeat(): Buffer {
    return message({ type: 'ping', seq: 0 });
  }

  /** Pings are answered in `translate`, with the seq and body they came with. */
  pong(nonce: number): Buffer {
    throw new InternalError(`dcc-link bridge: ping ${nonce} is answered by the bridge`);
  }

  /** There is no shutdown frame: closing the socket says it. */
  shutdown(): Buffer {
    return EMPTY;
  }

  private peerCall(id: number): PeerCall {
    const call = this.peerCalls.get(id);
    if (call === undefined) throw new InternalError(`dcc-link bridge: no call ${id} of the peer to answer`);
    return call;
  }

  private forgetPeerCall(id: number): void {
    const call = this.peerCalls.get(id);
    if (call === undefined) return;
    this.peerCalls.delete(id);
    if (this.peerSeqs.get(call.seq) === id) this.peerSeqs.delete(call.seq);
  }
}
