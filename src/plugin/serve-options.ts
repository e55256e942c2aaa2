/**
 * What every plugin side (servePlugin here, serveGrpcPlugin in wirecall/plugin-grpc) takes
 * and settles first: the magic cookie (without it, go-plugin's message and exit code 1),
 * the app protocol version chosen from the host's offer, and the network.
 */
import { InvalidOption } from '../errors.js';
import { DEFAULT_HANDSHAKE, ENV_PROTOCOL_VERSIONS, NOT_A_COMMAND_MESSAGE, checkVersions, chooseAppVersion, type HandshakeConfig } from './handshake.js';

export interface PluginSideOptions {
  /** The magic cookie; default DEFAULT_HANDSHAKE (launchPlugin's default). */
  handshake?: HandshakeConfig;
  /** App protocol versions this plugin speaks. Default [1]. */
  protocolVersions?: readonly number[];
  /** `unix` (default; TCP anyway on Windows, like go-plugin) or `tcp` on 127.0.0.1. */
  network?: 'unix' | 'tcp';
  /** Where the handshake variables are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Milliseconds between checks that the parent process is alive; 0: no polling. Default 1000. */
  parentPollInterval?: number;
  /**
   * When the host is gone (stdin EOF, parent died) or SIGTERM arrives. Default: close the
   * server (in-flight calls get `drainTimeout` ms, default 1000) and exit with code 0.
   */
  onShutdown?: (reason: string) => void | Promise<void>;
  drainTimeout?: number;
  /** Handle SIGTERM (graceful shutdown) and ignore SIGINT, as go-plugin plugins do. Default true. */
  handleSignals?: boolean;
}

/** Run by hand (no magic cookie): exits. Else the environment, the chosen version and network; throws InvalidOption. */
export function startPluginSide(options: PluginSideOptions) {
  const env = options.env ?? process.env;
  const handshake = options.handshake ?? DEFAULT_HANDSHAKE;
  if (env[handshake.magicCookieKey] !== handshake.magicCookieValue) {
    process.stderr.write(NOT_A_COMMAND_MESSAGE);
    process.exit(1);
  }
  if (options.network !== undefined && options.network !== 'unix' && options.network !== 'tcp') {
    throw new InvalidOption(`network must be 'unix' or 'tcp', got ${JSON.stringify(options.network)}`);
  }
  const versions = checkVersions(options.protocolVersions ?? [1], 'protocolVersions');
  const appVersion = chooseAppVersion(env[ENV_PROTOCOL_VERSIONS], versions);
  const network: 'unix' | 'tcp' = options.network === 'tcp' || process.platform === 'win32' ? 'tcp' : 'unix';
  return { env, appVersion, network, drainTimeout: options.drainTimeout ?? 1000 };
}
