/**
 * The options every host takes (launchPlugin here, launchGrpcPlugin in wirecall/plugin-grpc)
 * and their shared checks: the cookie, versions and ports handed to the plugin, and how its
 * process is run. Each host checks its own timeouts, whose rules differ.
 */
import { InvalidOption } from '../errors.js';
import { DEFAULT_HANDSHAKE, checkPortRange, checkVersions, type HandshakeConfig } from './handshake.js';

export interface HostOptions {
  /** The magic cookie: the plugin's HandshakeConfig. Default DEFAULT_HANDSHAKE (the one servePlugin defaults to). */
  handshake?: HandshakeConfig;
  /** App protocol versions this host speaks, sent in PLUGIN_PROTOCOL_VERSIONS. Default [1]. */
  protocolVersions?: readonly number[];
  /** Milliseconds to wait for the handshake line. Default 60 000 (go-plugin's). */
  handshakeTimeout?: number;
  /** PLUGIN_MIN_PORT / PLUGIN_MAX_PORT for a plugin that listens on TCP. Default 10000–25000 (go-plugin's). */
  minPort?: number;
  maxPort?: number;
  /** Where the private directory passed in PLUGIN_UNIX_SOCKET_DIR is made. Default os.tmpdir(). */
  unixSocketTempDir?: string;
  /**
   * PLUGIN_UNIX_SOCKET_GROUP: the group (name or gid) the plugin gives its socket to,
   * group-writable (0660), for a plugin running as another user; the socket directory is
   * given to it too (0770), as go-plugin does. This process must be a member. An unknown
   * group: InvalidOption.
   */
  unixSocketGroup?: string;
  /** go-plugin's AutoMTLS: a one-time certificate each way, the plugin's pinned. Default false. */
  autoMTLS?: boolean;
  /** Base environment (default process.env); the handshake variables are set on top. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Gets the plugin's stderr lines and its stdout lines after the handshake line, one call per line. Default: dropped. */
  logger?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** kill(): milliseconds the plugin gets to exit before it is signalled harder. Default 2000. */
  killGracePeriod?: number;
  /** How many stderr lines to keep for errors and stderrTail(). Default 20. */
  stderrLines?: number;
  /**
   * When this process exits while the plugin still runs, send it SIGTERM (go-plugin's
   * CleanupClients, for plugins that do not watch their host). Default true.
   */
  killOnExit?: boolean;
}

/** setTimeout's longest delay; a longer one fires at once. */
export const MAX_TIMER = 2_147_483_647;

/** The shared options checked, with their defaults. Throws InvalidOption. */
export function checkHostOptions(options: HostOptions) {
  const versions = checkVersions(options.protocolVersions ?? [1], 'protocolVersions');
  const minPort = options.minPort ?? 10_000;
  const maxPort = options.maxPort ?? 25_000;
  checkPortRange(minPort, maxPort);
  const stderrLines = options.stderrLines ?? 20;
  if (!Number.isInteger(stderrLines) || stderrLines < 0) throw new InvalidOption(`stderrLines must be an integer ≥ 0, got ${String(stderrLines)}`);
  const handshake = options.handshake ?? DEFAULT_HANDSHAKE;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(handshake.magicCookieKey)) {
    throw new InvalidOption(`magicCookieKey must be an environment variable name, got ${JSON.stringify(handshake.magicCookieKey)}`);
  }
  return { versions, minPort, maxPort, stderrLines, handshake };
}

export type HostConfig = ReturnType<typeof checkHostOptions>;
