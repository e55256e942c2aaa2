/**
 * The handshake's content: the HELLO a client sends, the server's verdict on it (protocol,
 * version, token, `authenticate`), the WELCOME it answers with, and what each side learns
 * of the other. The connection runs the exchange; this decides it (docs/PROTOCOL.md 4.3).
 */
import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { DCC_LINK_VERSION, IPCKIT_MAX_MESSAGE } from '../wire/dcc-link.js';
import { DCC_MCP_MAX_FRAME_SIZE } from '../wire/dcc-mcp.js';
import { PROTOCOL_NAME, RejectReason, SUPPORTED_VERSIONS, type Hello, type Welcome } from '../wire/native.js';
import type { TlsPeer } from '../transport/tls-options.js';
import type { PeerInfo } from './contract.js';
import type { ResolvedOptions } from './options.js';

/** A HELLO refused: the REJECT's reason and message; `auth` when the token or `authenticate` said no. */
export interface Refusal {
  ok: false;
  reason: string;
  message: string;
  auth: boolean;
}
export type Admission = { ok: true; version: number } | Refusal;

export function clientHello(o: ResolvedOptions): Hello {
  const hello: Hello = {
    protocol: PROTOCOL_NAME,
    versions: [...SUPPORTED_VERSIONS],
    peerName: o.name,
    peerVersion: o.version,
    maxFrameSize: o.maxFrameSize,
    heartbeatMs: o.heartbeatInterval,
    streamWindowMessages: o.streamWindow.messages,
    streamWindowBytes: o.streamWindow.bytes,
  };
  if (o.token !== undefined) hello.token = o.token;
  return hello;
}

/**
 * The server's verdict on a HELLO. Synchronous unless an `authenticate` hook has to be
 * awaited, so a call right behind the HELLO in the same chunk finds the connection open.
 */
export function admit(hello: Hello, o: ResolvedOptions, address: string): Admission | Promise<Admission> {
  if (hello.protocol !== PROTOCOL_NAME) {
    return refusal(RejectReason.PROTOCOL, `expected protocol ${PROTOCOL_NAME}, got ${JSON.stringify(hello.protocol)}`);
  }
  const version = SUPPORTED_VERSIONS.find((v) => hello.versions.includes(v));
  if (version === undefined) {
    return refusal(
      RejectReason.VERSION_MISMATCH,
      `server speaks protocol version ${SUPPORTED_VERSIONS.join(', ')}; client offered ${hello.versions.join(', ') || 'none'}`,
    );
  }
  if (o.token !== undefined && !tokensEqual(o.token, hello.token ?? undefined)) {
    return refusal(RejectReason.UNAUTHENTICATED, hello.token ? 'wrong token' : 'a token is required', true);
  }
  const authenticate = o.authenticate;
  if (authenticate === undefined) return { ok: true, version };
  return (async (): Promise<Admission> => {
    let ok = false;
    try {
      ok = await authenticate(hello, address, { address, tls: o.tlsPeer?.() });
    } catch {
      ok = false;
    }
    return ok ? { ok: true, version } : refusal(RejectReason.UNAUTHENTICATED, 'not authorised', true);
  })();
}

export function serverWelcome(o: ResolvedOptions, version: number): Welcome {
  return {
    protocol: PROTOCOL_NAME,
    version,
    peerName: o.name,
    peerVersion: o.version,
    connectionId: randomUUID(),
    maxFrameSize: o.maxFrameSize,
    heartbeatMs: o.heartbeatInterval,
    streamWindowMessages: o.streamWindow.messages,
    streamWindowBytes: o.streamWindow.bytes,
  };
}

/** Why a client cannot accept this WELCOME, or undefined. */
export function welcomeProblem(welcome: Welcome): string | undefined {
  if (welcome.protocol !== PROTOCOL_NAME || !SUPPORTED_VERSIONS.includes(welcome.version)) {
    return `server chose unsupported protocol ${welcome.protocol}/${welcome.version}`;
  }
  return undefined;
}

/** What the server learns of its client (`tls`: what TLS verified of it). */
export function clientInfo(hello: Hello, welcome: Welcome, address: string, tls?: TlsPeer): PeerInfo {
  return {
    ...(tls === undefined ? {} : { tls }),
    name: hello.peerName,
    version: hello.peerVersion,
    protocolVersion: welcome.version,
    connectionId: welcome.connectionId,
    address,
    maxFrameSize: hello.maxFrameSize,
    heartbeatMs: hello.heartbeatMs,
    dialect: 'wirecall',
  };
}

/** What the client learns of its server (`tls`: what TLS verified of it). */
export function serverInfo(welcome: Welcome, address: string, tls?: TlsPeer): PeerInfo {
  return {
    ...(tls === undefined ? {} : { tls }),
    name: welcome.peerName,
    version: welcome.peerVersion,
    protocolVersion: welcome.version,
    connectionId: welcome.connectionId,
    address,
    maxFrameSize: welcome.maxFrameSize,
    heartbeatMs: welcome.heartbeatMs,
    dialect: 'wirecall',
  };
}

/**
 * A dcc-mcp-core peer says nothing about itself: these are the envelope's own limits.
 * Its heartbeat is ours (it answers pings but sends none).
 */
export function dccMcpPeerInfo(address: string): PeerInfo {
  return {
    name: 'dcc-mcp-core',
    version: '',
    protocolVersion: 0,
    connectionId: randomUUID(),
    address,
    maxFrameSize: DCC_MCP_MAX_FRAME_SIZE,
    heartbeatMs: 0,
    dialect: 'dcc-mcp',
  };
}

/**
 * A DCC-Link peer says nothing about itself either: its limit is ipckit's 16 MiB per
 * channel message (the whole DCC-Link frame), and it sends no heartbeat.
 */
export function dccLinkPeerInfo(address: string): PeerInfo {
  return {
    name: 'dcc-link',
    version: '',
    protocolVersion: DCC_LINK_VERSION,
    connectionId: randomUUID(),
    address,
    maxFrameSize: IPCKIT_MAX_MESSAGE,
    heartbeatMs: 0,
    dialect: 'dcc-link',
  };
}

function refusal(reason: string, message: string, auth = false): Refusal {
  return { ok: false, reason, message, auth };
}

function tokensEqual(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  // Hash first so lengths match and the comparison time says nothing about the token.
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}
