/**
 * HashiCorp go-plugin's handshake, as both sides see it: the environment the host sets,
 * the one stdout line the plugin prints, and the version negotiation between them.
 * Facts: docs/PLUGINS.md.
 */
import { InvalidOption } from '../errors.js';
import { PluginHandshakeInvalid, PluginProtocolMismatch, PluginVersionMismatch } from './errors.js';

/** go-plugin's core protocol version, the first field of the line. */
export const CORE_PROTOCOL_VERSION = 1;
/** The PROTOCOL field for wirecall's own protocol over the socket. */
export const WIRECALL_PROTOCOL = 'wirecall';

export const ENV_PROTOCOL_VERSIONS = 'PLUGIN_PROTOCOL_VERSIONS';
export const ENV_MIN_PORT = 'PLUGIN_MIN_PORT';
export const ENV_MAX_PORT = 'PLUGIN_MAX_PORT';
export const ENV_UNIX_SOCKET_DIR = 'PLUGIN_UNIX_SOCKET_DIR';
export const ENV_UNIX_SOCKET_GROUP = 'PLUGIN_UNIX_SOCKET_GROUP';
export const ENV_CLIENT_CERT = 'PLUGIN_CLIENT_CERT';
/** Set by launchPlugin (not by go-plugin): the plugin's stdin is a pipe the host holds open; EOF means the host is gone. */
export const ENV_WATCH_STDIN = 'WIRECALL_PLUGIN_WATCH_STDIN';

/** What a person who runs a plugin by hand reads (go-plugin's words), before exit code 1. */
export const NOT_A_COMMAND_MESSAGE =
  'This binary is a plugin. These are not meant to be executed directly.\n' +
  'Please execute the program that consumes these plugins, which will\n' +
  'load any plugins automatically\n';

/** go-plugin's HandshakeConfig: host and plugin must agree on all of it. */
export interface HandshakeConfig {
  /** Environment variable name of the magic cookie (a UX guard, not security). */
  magicCookieKey: string;
  magicCookieValue: string;
}

/** The cookie wirecall uses when none is given (`wirecall plugin run`, the fixtures). */
export const DEFAULT_HANDSHAKE: Readonly<HandshakeConfig> = Object.freeze({
  magicCookieKey: 'WIRECALL_PLUGIN',
  magicCookieValue: 'd3f1c0a2-wirecall-plugin-v1',
});

/** The fields of a handshake line. */
export interface HandshakeLine {
  coreVersion: number;
  appVersion: number;
  network: 'unix' | 'tcp';
  address: string;
  protocol: string;
  /** Unpadded base64 of the server's DER certificate; '' without TLS. */
  serverCert: string;
  /** go-plugin's 7th field: `true` when gRPC broker multiplexing is on. */
  multiplex: boolean;
}

/** `CORE|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT`, no trailing newline. */
export function formatHandshakeLine(line: Omit<HandshakeLine, 'coreVersion' | 'multiplex' | 'serverCert'> & Partial<HandshakeLine>): string {
  const fields = [line.coreVersion ?? CORE_PROTOCOL_VERSION, line.appVersion, line.network, line.address, line.protocol, line.serverCert ?? ''];
  if (line.multiplex) fields.push('true');
  return fields.join('|');
}

const INT = /^[0-9]{1,9}$/;

/**
 * Parses a handshake line the way go-plugin's host does (at least 4 fields; PROTOCOL
 * defaults to `netrpc`; a SERVER-CERT of 50 characters or fewer counts as absent), but
 * stricter about the numbers, the network and the address. Throws PluginHandshakeInvalid.
 */
export function parseHandshakeLine(text: string): HandshakeLine {
  const line = text.trim();
  const parts = line.split('|');
  if (parts.length < 4) throw new PluginHandshakeInvalid(line, `expected CORE|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT, got ${parts.length} field(s)`);
  const [core = '', app = '', network = '', address = ''] = parts;
  if (!INT.test(core)) throw new PluginHandshakeInvalid(line, `core version ${JSON.stringify(core)} is not a number`);
  if (!INT.test(app)) throw new PluginHandshakeInvalid(line, `app version ${JSON.stringify(app)} is not a number`);
  if (network !== 'unix' && network !== 'tcp') throw new PluginHandshakeInvalid(line, `unknown network ${JSON.stringify(network)} (expected unix or tcp)`);
  if (address === '' || /\s/.test(address)) throw new PluginHandshakeInvalid(line, 'empty address or whitespace in it');
  if (network === 'tcp' && !/^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):[0-9]{1,5}$/.test(address)) {
    throw new PluginHandshakeInvalid(line, `tcp address ${JSON.stringify(address)} is not host:port`);
  }
  const cert = parts[5] ?? '';
  return {
    coreVersion: Number(core),
    appVersion: Number(app),
    network,
    address,
    protocol: parts[4] === undefined || parts[4] === '' ? 'netrpc' : parts[4],
    serverCert: cert.length > 50 ? cert : '',
    multiplex: parts[6] === 'true',
  };
}

/**
 * The host's checks on a parsed line: core version 1, an app version it offered, a
 * protocol it speaks, and a SERVER-CERT exactly when AutoMTLS is on. Throws
 * PluginVersionMismatch or PluginProtocolMismatch.
 */
export function checkHandshake(
  line: HandshakeLine,
  offered: readonly number[],
  protocols: readonly string[] = [WIRECALL_PROTOCOL],
  options: { autoMTLS?: boolean } = {},
): void {
  if (line.coreVersion !== CORE_PROTOCOL_VERSION) throw new PluginVersionMismatch('core', line.coreVersion, [CORE_PROTOCOL_VERSION]);
  if (!offered.includes(line.appVersion)) throw new PluginVersionMismatch('app', line.appVersion, offered);
  if (!protocols.includes(line.protocol)) {
    throw new PluginProtocolMismatch(`the plugin speaks protocol ${JSON.stringify(line.protocol)}; this host speaks ${protocols.join(', ')}`);
  }
  if (options.autoMTLS === true && line.serverCert === '') {
    throw new PluginProtocolMismatch('AutoMTLS is on, but the plugin announced no certificate (SERVER-CERT is empty): it does not do AutoMTLS');
  }
  if (options.autoMTLS !== true && line.serverCert !== '') {
    throw new PluginProtocolMismatch('the plugin announced a TLS certificate (SERVER-CERT), but AutoMTLS is off: launch it with autoMTLS: true');
  }
  if (line.multiplex) throw new PluginProtocolMismatch('the plugin asked for gRPC broker multiplexing, which a wirecall connection does not use');
}

/** wirecall endpoint for the line's NETWORK and ADDRESS. */
export function endpointOfLine(line: Pick<HandshakeLine, 'network' | 'address'>): string {
  return line.network === 'unix' ? `unix:${line.address}` : `tcp://${line.address}`;
}

/**
 * The plugin's choice, as go-plugin makes it: the highest version in
 * PLUGIN_PROTOCOL_VERSIONS that it supports; with none in common (or no variable), its
 * own highest, which the host then refuses.
 */
export function chooseAppVersion(envValue: string | undefined, supported: readonly number[]): number {
  if (supported.length === 0) throw new InvalidOption('protocolVersions must list at least one version');
  const offered = (envValue ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => INT.test(v))
    .map(Number);
  const common = offered.filter((v) => supported.includes(v));
  return Math.max(...(common.length > 0 ? common : supported));
}

/** Checks a list of app protocol versions (positive integers, at least one). */
export function checkVersions(versions: readonly number[], what: string): number[] {
  if (!Array.isArray(versions) || versions.length === 0) throw new InvalidOption(`${what} must list at least one version`);
  for (const v of versions) {
    if (!Number.isInteger(v) || v < 1 || v > 999_999_999) throw new InvalidOption(`${what}: ${String(v)} is not a positive integer`);
  }
  return [...versions];
}

/** Checks a port range; go-plugin's defaults are 10000–25000 (host) and 0 (plugin: any). */
export function checkPortRange(min: number, max: number): void {
  for (const [name, v] of [['minPort', min], ['maxPort', max]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw new InvalidOption(`${name} must be an integer in 0–65535, got ${String(v)}`);
  }
  if (min > max) throw new InvalidOption(`minPort ${min} is greater than maxPort ${max}`);
}
