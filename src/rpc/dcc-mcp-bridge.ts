/**
 * A connection that speaks dcc-mcp-core's envelope (0.12.3–0.13.6) rather than the native
 * protocol. The rest of the connection does not change: this bridge turns envelopes into
 * the native messages dispatch.ts routes (`translate`) and builds envelopes for the
 * frames the parts ask for (it is their `Frames`).
 *
 * What it keeps to do that: the envelope's UUIDs ⇄ the integer ids the parts use, the
 * method of each call (its payload codec applies to the answer too), and our requests
 * beyond `maxCallsInFlight`, held back in order (0.13.6 deadlocks when ~512 arrive
 * unanswered). The envelope has no cancel, deadline or stream: a call we give up on is
 * forgotten here (its late answer is dropped), the peer is not told.
 */
import {
  encodeDccNotify,
  encodeDccPing,
  encodeDccPong,
  encodeDccRequest,
  encodeDccResponse,
  encodeDccShutdown,
  DCC_MCP_MAX_FRAME_SIZE,
  newEnvelopeId,
  type DccMcpMessage,
  type EnvelopeId,
} from '../wire/dcc-mcp.js';
import { payloadSize } from '../wire/encode.js';
import { MAX_CALL_ID, MessageType, type ErrorBody, type NativeMessage } from '../wire/native.js';
import { InternalError, InvalidArgument } from '../errors.js';
import { Status } from '../status.js';
import { decodePayload, encodePayload, type PayloadCodec, type ResolvedDccMcpOptions } from './dcc-mcp-codec.js';
import type { Frames } from './frames.js';

/** What the bridge needs from its connection. */
export interface BridgeLink {
  write(frame: Buffer): void;
  /** A notification whose data its codec could not decode: reported, not delivered. */
  undecodable(error: Error, topic: string): void;
}

/** A request of ours: sent (awaiting its response) or held back. */
interface Request {
  readonly id: number;
  readonly uuid: EnvelopeId;
  readonly method: string;
  frame: Buffer | undefined;
  /** We gave up on it (deadline, abort): its answer, if any comes, is dropped. */
  abandoned: boolean;
}

/** Unanswered pings of ours remembered at most; older ones are forgotten (their waiters time out). */
const MAX_PINGS = 64;
const EMPTY = Buffer.alloc(0);

export class DccMcpBridge implements Frames {
  readonly dialect = 'dcc-mcp' as const;
  /** Our requests by UUID, sent and awaiting their response. */
  private readonly sent = new Map<EnvelopeId, Request>();
  /** Our requests by call id, sent or held back (for cancel). */
  private readonly byId = new Map<number, Request>();
  /** Encoded but not yet handed to `send` (MessageTooLarge may stop it there). */
  private readonly encoded = new WeakMap<Buffer, Request>();
  private readonly held: Request[] = [];
  private heldHead = 0;
  /** The peer's requests we are handling: local id → its UUID and method. */
  private readonly peerCalls = new Map<number, { uuid: EnvelopeId; method: string }>();
  private nextPeerCall = 0;
  private readonly ourPings = new Map<EnvelopeId, number>();
  private readonly peerPings = new Map<number, EnvelopeId>();
  private nextPeerPing = 0;

  constructor(
    private readonly link: BridgeLink,
    private readonly options: ResolvedDccMcpOptions,
  ) {}

  /** Requests of ours held back by maxCallsInFlight. */
  get heldCalls(): number {
    return this.held.length - this.heldHead;
  }

  codecOf(method: string): PayloadCodec {
    return this.options.methods.get(method) ?? this.options.codec;
  }

  // ------------------------------------------------------------- envelopes in

  /** The native message an envelope stands for, or undefined when it needs nothing more (answered here, or a late answer). */
  translate(m: DccMcpMessage): NativeMessage | undefined {
    switch (m.type) {
      case 'request':
        return this.onRequest(m.id, m.method, m.params);
      case 'response':
        return this.onResponse(m.id, m.success, m.payload, m.error);
      case 'notify': {
        let data: unknown;
        try {
          data = decodePayload(this.codecOf(m.topic), m.data);
        } catch (err) {
          this.link.undecodable(new InvalidArgument(`data of notification ${m.topic} is ${(err as Error).message}`), m.topic);
          return undefined;
        }
        return [MessageType.NOTIFY, m.topic, data];
      }
      case 'ping': {
        const nonce = (this.nextPeerPing = this.nextPeerPing >= MAX_CALL_ID ? 1 : this.nextPeerPing + 1);
        this.peerPings.set(nonce, m.id);
        return [MessageType.PING, nonce];
      }
      case 'pong': {
        const nonce = this.ourPings.get(m.id);
        if (nonce === undefined) return undefined; // a heartbeat's, or one we stopped waiting for
        this.ourPings.delete(m.id);
        return [MessageType.PONG, nonce];
      }
      case 'shutdown':
        return [MessageType.SHUTDOWN, m.reason];
    }
  }

  private onRequest(uuid: EnvelopeId, method: string, bytes: Buffer): NativeMessage | undefined {
    let params: unknown;
    try {
      params = decodePayload(this.codecOf(method), bytes);
    } catch (err) {
      this.link.write(encodeDccResponse(uuid, false, EMPTY, `params of ${method} are ${(err as Error).message}`));
      return undefined;
    }
    let id = this.nextPeerCall;
    do id = id >= MAX_CALL_ID ? 1 : id + 1;
    while (this.peerCalls.has(id));
    this.nextPeerCall = id;
    this.peerCalls.set(id, { uuid, method });
    return [MessageType.CALL, id, method, params, null];
  }

  private onResponse(uuid: EnvelopeId, success: boolean, payload: Buffer, error: string | null): NativeMessage | undefined {
    const request = this.sent.get(uuid);
    if (request === undefined) return undefined;
    this.sent.delete(uuid);
    this.sendHeld();
    if (request.abandoned) return undefined;
    this.byId.delete(request.id);
    if (!success) return [MessageType.ERROR, request.id, Status.METHOD_ERROR, { name: 'DccMcpError', message: error ?? `call of ${request.method} failed` }];
    try {
      return [MessageType.RESULT, request.id, decodePayload(this.codecOf(request.method), payload)];
    } catch (err) {
      return [MessageType.ERROR, request.id, Status.SERVER_ERROR, { name: 'DecodeError', message: `response of ${request.method} is ${(err as Error).message}` }];
    }
  }

  // ------------------------------------------------------------- frames out (Frames)

  call(id: number, method: string, params: unknown): Buffer {
    const uuid = newEnvelopeId();
    const frame = encodeDccRequest(uuid, method, encodePayload(this.codecOf(method), params));
    this.encoded.set(frame, { id, uuid, method, frame, abandoned: false });
    return frame;
  }

  /** Send a request `call()` built, or hold it back while maxCallsInFlight are unanswered. */
  send(frame: Buffer): void {
    const request = this.encoded.get(frame);
    if (request === undefined) throw new InternalError('dcc-mcp bridge: send() of a frame call() did not build');
    this.encoded.delete(frame);
    this.byId.set(request.id, request);
    if (this.sent.size < this.options.maxCallsInFlight && this.heldCalls === 0) this.transmit(request);
    else this.held.push(request);
  }

  result(id: number, value: unknown): Buffer {
    const call = this.peerCall(id);
    const frame = encodeDccResponse(call.uuid, true, encodePayload(this.codecOf(call.method), value), null);
    // Too big to send: the caller answers with error() instead, which needs the entry.
    if (payloadSize(frame) <= DCC_MCP_MAX_FRAME_SIZE) this.peerCalls.delete(id);
    return frame;
  }

  error(id: number, _status: number, body: ErrorBody): Buffer {
    const call = this.peerCall(id);
    this.peerCalls.delete(id);
    return encodeDccResponse(call.uuid, false, EMPTY, body.message);
  }

  /** We gave up on call `id`: a held request is never sent; a sent one keeps its slot until answered. */
  cancel(id: number): null {
    const request = this.byId.get(id);
    if (request !== undefined) {
      this.byId.delete(id);
      request.abandoned = true;
      request.frame = undefined;
    }
    return null;
  }

  notify(method: string, params: unknown): Buffer {
    return encodeDccNotify(null, method, encodePayload(this.codecOf(method), params));
  }

  ping(nonce: number): Buffer {
    const uuid = newEnvelopeId();
    if (this.ourPings.size >= MAX_PINGS) this.ourPings.delete(this.ourPings.keys().next().value!);
    this.ourPings.set(uuid, nonce);
    return encodeDccPing(uuid);
  }

  heartbeat(): Buffer {
    return encodeDccPing(newEnvelopeId());
  }

  pong(nonce: number): Buffer {
    const uuid = this.peerPings.get(nonce);
    if (uuid === undefined) throw new InternalError(`dcc-mcp bridge: no ping ${nonce} to answer`);
    this.peerPings.delete(nonce);
    return encodeDccPong(uuid);
  }

  shutdown(reason: string | null): Buffer {
    return encodeDccShutdown(reason);
  }

  private peerCall(id: number): { uuid: EnvelopeId; method: string } {
    const call = this.peerCalls.get(id);
    if (call === undefined) throw new InternalError(`dcc-mcp bridge: no request ${id} of the peer to answer`);
    return call;
  }

  private transmit(request: Request): void {
    this.sent.set(request.uuid, request);
    const frame = request.frame!;
    request.frame = undefined;
    this.link.write(frame);
  }

  /** Room was made: send held requests, oldest first, skipping those given up on. */
  private sendHeld(): void {
    const held = this.held;
    while (this.heldHead < held.length && this.sent.size < this.options.maxCallsInFlight) {
      const request = held[this.heldHead]!;
      held[this.heldHead++] = undefined as unknown as Request;
      if (!request.abandoned) this.transmit(request);
    }
    if (this.heldHead === held.length) {
      held.length = 0;
      this.heldHead = 0;
    } else if (this.heldHead > 1024 && this.heldHead * 2 > held.length) {
      held.splice(0, this.heldHead);
      this.heldHead = 0;
    }
  }
}
