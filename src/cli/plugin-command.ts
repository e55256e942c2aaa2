/**
 * `wirecall plugin run [options] -- <command…>`: launch a plugin (go-plugin's handshake,
 * PROTOCOL wirecall), print `listening on <endpoint>` and keep it running until
 * SIGINT/SIGTERM, so that `wirecall call <endpoint> …` can reach it meanwhile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_HANDSHAKE, PluginError, launchPlugin, type HandshakeConfig, type LaunchedPlugin, type LaunchOptions } from '../plugin/index.js';
import { EXIT_CODES_HELP, ExitCode, onInterrupt, packageVersion, parsePositiveMs, parseMs, reportError, formatError } from './common.js';
import { TOKEN_HELP, resolveToken, tokenFlags, type TokenFlags } from './token.js';

interface RunFlags extends TokenFlags {
  magicCookie?: HandshakeConfig;
  protocolVersions?: number[];
  handshakeTimeout?: number;
  killGrace?: number;
  minPort?: number;
  maxPort?: number;
  quiet?: boolean;
  autoMtls?: boolean;
  unixSocketGroup?: string;
}

export function pluginCommand(): Command {
  const run = tokenFlags(
    new Command('run').description('launch a plugin process and keep it running until SIGINT/SIGTERM').argument('<command...>', 'the plugin command and its arguments (after --)'),
    "send this token in the handshake with the plugin (a plugin started with $WIRECALL_TOKEN in its environment, e.g. `wirecall serve --plugin`, requires it)",
  )
    .option('--magic-cookie <KEY=VALUE>', `the handshake's magic cookie (default ${DEFAULT_HANDSHAKE.magicCookieKey}=${DEFAULT_HANDSHAKE.magicCookieValue})`, parseCookie)
    .option('--protocol-versions <list>', 'app protocol versions offered, e.g. 1,2 (default 1)', parseVersions)
    .option('--handshake-timeout <ms>', 'wait this long for the handshake line (default 60000)', parsePositiveMs)
    .option('--kill-grace <ms>', 'on shutdown, SIGKILL the plugin this long after SIGTERM (default 2000)', parseMs)
    .option('--min-port <port>', 'PLUGIN_MIN_PORT for a plugin on TCP (default 10000)', parsePort)
    .option('--max-port <port>', 'PLUGIN_MAX_PORT for a plugin on TCP (default 25000)', parsePort)
    .option('--unix-socket-group <group>', "PLUGIN_UNIX_SOCKET_GROUP: give the plugin's socket (0660) and its directory (0770) to this group (name or gid)")
    .option('--auto-mtls', "go-plugin's AutoMTLS: mutual TLS with ephemeral certificates (needs @peculiar/x509 and reflect-metadata); the certificates for `wirecall call` are written to a private directory, printed on the second line")
    .option('-q, --quiet', "do not copy the plugin's stderr and stdout lines to stderr")
    .addHelpText(
      'after',
      `
The first stdout line is exactly "listening on <endpoint>" (the address the plugin
announced, e.g. "listening on unix:/tmp/plugin-dir1234/plugin5678"); then
\`wirecall call <endpoint> <method>\` reaches the plugin. The plugin's own stderr (and its
stdout after the handshake) is copied to stderr, each line prefixed "plugin: ".
SIGINT/SIGTERM stop the plugin gracefully (SIGTERM, SIGKILL after --kill-grace) and exit
0; if the plugin exits by itself, so does this command (exit code 3).
With --auto-mtls the endpoint of a plugin on TCP is tls://127.0.0.1:<port>, and a second
line "tls --tls-ca <dir>/plugin.pem --tls-cert <dir>/host.pem --tls-key <dir>/host-key.pem
--tls-servername localhost" gives the flags \`wirecall call\` needs, for a plugin on a
Unix socket as on TCP; <dir> is private (0700) and removed when this command ends.
Example: wirecall plugin run -- node dist/examples/my-plugin.js
${TOKEN_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (argv: string[], flags: RunFlags) => {
      process.exitCode = await runPlugin(argv, flags);
    });
  const plugin = new Command('plugin').description('launch and serve plugins (HashiCorp go-plugin handshake, docs/PLUGINS.md)');
  run.exitOverride().helpOption('-h, --help', 'show help').configureOutput({ outputError: () => {} });
  plugin.addCommand(run);
  return plugin;
}

async function runPlugin(argv: string[], flags: RunFlags): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined) return reportError(new PluginError('no plugin command given'));
  let token: string | undefined;
  try {
    token = resolveToken(flags);
  } catch (err) {
    return reportError(err);
  }
  const options: LaunchOptions = {
    connect: { name: 'wirecall-cli', version: packageVersion(), ...(token === undefined ? {} : { token }) },
    ...(flags.quiet ? {} : { logger: (line: string) => process.stderr.write(`plugin: ${line}\n`) }),
  };
  if (flags.magicCookie !== undefined) options.handshake = flags.magicCookie;
  if (flags.protocolVersions !== undefined) options.protocolVersions = flags.protocolVersions;
  if (flags.handshakeTimeout !== undefined) options.handshakeTimeout = flags.handshakeTimeout;
  if (flags.killGrace !== undefined) options.killGracePeriod = flags.killGrace;
  if (flags.minPort !== undefined) options.minPort = flags.minPort;
  if (flags.maxPort !== undefined) options.maxPort = flags.maxPort;
  if (flags.unixSocketGroup !== undefined) options.unixSocketGroup = flags.unixSocketGroup;
  if (flags.autoMtls) options.autoMTLS = true;
  // A Ctrl-C during the launch: stop whatever was started, then exit.
  let interrupted = false;
  const removeEarly = onInterrupt(() => (interrupted = true));
  let plugin;
  try {
    plugin = await launchPlugin(command, args, options);
  } catch (err) {
    removeEarly();
    return failed(err);
  }
  removeEarly();
  process.stdout.write(`listening on ${plugin.endpoint}\n`);
  const certDir = plugin.tls === undefined ? undefined : writeCertificates(plugin.tls);
  if (certDir !== undefined) {
    const f = (name: string): string => path.join(certDir, name);
    process.stdout.write(`tls --tls-ca ${f('plugin.pem')} --tls-cert ${f('host.pem')} --tls-key ${f('host-key.pem')} --tls-servername localhost\n`);
    process.once('exit', () => rmSync(certDir, { recursive: true, force: true }));
  }
  if (interrupted) {
    await plugin.kill();
    return ExitCode.OK;
  }
  // The CLI holds its connection too; losing it is not the end, the plugin's exit is.
  plugin.connection.on('close', () => {});
  return new Promise<number>((resolve) => {
    let stopping = false;
    const remove = onInterrupt(() => {
      stopping = true;
      void plugin.kill().then(() => resolve(ExitCode.OK));
    });
    void plugin.exited.then((status) => {
      remove();
      if (stopping) return;
      process.stderr.write(`plugin exited (${status.code === null ? `signal ${status.signal ?? '?'}` : `code ${status.code}`})\n`);
      plugin.connection.destroy();
      resolve(ExitCode.TRANSPORT);
    });
  });
}

/** AutoMTLS: the host's certificate and key and the plugin's certificate, in a fresh 0700 directory (files 0600). */
function writeCertificates(tls: NonNullable<LaunchedPlugin['tls']>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wirecall-plugin-tls-'));
  const write = (name: string, text: string): void => writeFileSync(path.join(dir, name), text, { mode: 0o600 });
  write('host.pem', tls.cert);
  write('host-key.pem', tls.key);
  write('plugin.pem', tls.ca.join(''));
  return dir;
}

/** Launch failures are transport-like (exit code 3); bad options stay usage errors. */
function failed(err: unknown): number {
  if (err instanceof PluginError) {
    process.stderr.write(`${formatError(err)}\n`);
    return ExitCode.TRANSPORT;
  }
  return reportError(err);
}

function parseCookie(text: string): HandshakeConfig {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected KEY=VALUE');
  return { magicCookieKey: text.slice(0, eq), magicCookieValue: text.slice(eq + 1) };
}

function parseVersions(text: string): number[] {
  const versions = text.split(',').map((v) => Number(v.trim()));
  if (versions.length === 0 || versions.some((v) => !Number.isInteger(v) || v < 1)) throw new InvalidArgumentError('expected positive integers separated by commas, e.g. 1,2');
  return versions;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || port > 65535) throw new InvalidArgumentError('expected a port number 0–65535');
  return port;
}
