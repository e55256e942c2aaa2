/**
 * The environment a host starts a plugin with: go-plugin's handshake variables on top of
 * the base environment, and the private directory for the plugin's Unix socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage } from '../util/error-message.js';
import { PluginStartFailed } from './errors.js';
import {
  ENV_CLIENT_CERT,
  ENV_MAX_PORT,
  ENV_MIN_PORT,
  ENV_PROTOCOL_VERSIONS,
  ENV_UNIX_SOCKET_DIR,
  ENV_UNIX_SOCKET_GROUP,
  ENV_WATCH_STDIN,
} from './handshake.js';
import type { HostConfig, HostOptions } from './host-options.js';
import { setGroupWritable } from './socket-group.js';

export interface HostEnvironment {
  readonly env: NodeJS.ProcessEnv;
  /** PLUGIN_UNIX_SOCKET_DIR (none on Windows); the host removes it once the plugin has exited. */
  readonly socketDir: string | undefined;
}

/** Makes the socket directory and the environment; `clientCertPem` (AutoMTLS) goes in PLUGIN_CLIENT_CERT. */
export function hostEnvironment(
  options: Pick<HostOptions, 'env' | 'unixSocketTempDir' | 'unixSocketGroup'>,
  cfg: Pick<HostConfig, 'handshake' | 'versions' | 'minPort' | 'maxPort'>,
  clientCertPem: string | undefined,
): HostEnvironment {
  const socketDir = process.platform === 'win32' ? undefined : makeSocketDir(options.unixSocketTempDir ?? os.tmpdir(), options.unixSocketGroup);
  const env: NodeJS.ProcessEnv = {
    ...(options.env ?? process.env),
    [cfg.handshake.magicCookieKey]: cfg.handshake.magicCookieValue,
    [ENV_PROTOCOL_VERSIONS]: cfg.versions.join(','),
    [ENV_MIN_PORT]: String(cfg.minPort),
    [ENV_MAX_PORT]: String(cfg.maxPort),
    [ENV_WATCH_STDIN]: '1',
    ...(socketDir === undefined ? {} : { [ENV_UNIX_SOCKET_DIR]: socketDir }),
    ...(options.unixSocketGroup === undefined ? {} : { [ENV_UNIX_SOCKET_GROUP]: options.unixSocketGroup }),
    ...(clientCertPem === undefined ? {} : { [ENV_CLIENT_CERT]: clientCertPem }),
  };
  // A host that is itself a plugin inherits its own host's certificate: passed on, it
  // would turn AutoMTLS on in a plugin whose host does not do it.
  if (clientCertPem === undefined) delete env[ENV_CLIENT_CERT];
  return { env, socketDir };
}

/** The private (0700, from mkdtemp) directory passed in PLUGIN_UNIX_SOCKET_DIR; with a group, 0770 and that group's. */
function makeSocketDir(parent: string, group: string | undefined): string {
  let dir: string;
  try {
    dir = mkdtempSync(path.join(parent, 'plugin-dir'));
  } catch (err) {
    throw new PluginStartFailed(`cannot create the plugin's socket directory under ${parent}: ${errorMessage(err)}`, { cause: err });
  }
  if (group === undefined) return dir;
  try {
    setGroupWritable(dir, group, 0o770, 'unixSocketGroup');
  } catch (err) {
    removeDir(dir);
    throw err;
  }
  return dir;
}

export function removeDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}
