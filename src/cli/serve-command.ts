/**
 * `wirecall serve [endpoint] [--register <dccType>]`: run the demo server until SIGINT/SIGTERM.
 * `wirecall serve --plugin [unix|tcp]`: serve it as a plugin of the process that launched it (servePlugin).
 */
import { Command, InvalidArgumentError } from 'commander';
import { ProtocolError, createServer, type ServerOptions } from '../index.js';
import { serveRegistered, type RegisteredServer } from '../manager/index.js';
import { servePlugin } from '../plugin/index.js';
import { registryFlag } from './connect-target.js';
import { ENDPOINT_HELP, EXIT_CODES_HELP, onInterrupt, packageVersion, parsePositiveMs, parseSocketMode, reportError, toJsonLine } from './common.js';
import { logCalls } from './call-log.js';
import { DEMO_METHODS_HELP, registerDemoMethods, type DemoClient, type DemoService } from './demo-service.js';
import { TLS_HELP, serverTlsOptions, tlsFlags, type TlsFlags } from './tls-flags.js';
import { TOKEN_HELP, resolveToken, tokenFlags, type TokenFlags } from './token.js';
import { errorMessage } from '../util/error-message.js';
import { UsageError } from './usage-error.js';

interface ServeFlags extends TokenFlags, TlsFlags {
  name?: string;
  socketMode?: 0o600 | 0o660;
  drainTimeout?: number;
  verbose?: boolean;
  register?: string;
  scene?: string;
  registryDir?: string;
  plugin?: true | 'unix' | 'tcp';
}

export function serveCommand(): Command {
  const command = registryFlag(new Command('serve'))
    .summary('serve the demo methods until SIGINT/SIGTERM')
    .description('serve the demo methods (echo, add, sleep, fail, methods, whoami, countdown, note, notes; streams count, sum, chat) until SIGINT/SIGTERM')
    .argument('[endpoint]', 'where to listen; default: a fresh private Unix socket');
  return tlsFlags(tokenFlags(command, 'require this token in every client handshake'), 'server')
    .option('--name <name>', 'server name announced in the handshake', 'wirecall-demo')
    .option('--socket-mode <mode>', 'Unix socket permissions: 600 (owner only, default) or 660 (owner and group)', parseSocketMode)
    .option('--drain-timeout <ms>', 'on shutdown, let in-flight calls finish for up to this long', parsePositiveMs)
    .option('-v, --verbose', 'log connections, calls (unknown methods too), streams and notifications to stderr')
    .option('--register <dccType>', 'register in the service registry as an instance of this DCC type (deregistered on exit)')
    .option('--scene <scene>', 'with --register: the scene to advertise')
    .option('--plugin [network]', 'serve as a plugin of the process that launched it (go-plugin handshake; network unix, the default, or tcp)', parsePluginNetwork)
    .addHelpText(
      'after',
      `
The first line on stdout is exactly "listening on <endpoint>" with the endpoint actually
bound (e.g. "listening on tcp://127.0.0.1:40123"); nothing is printed before it.
With --register, the server is in the registry before that line is printed, and a
second line "registered <dccType> <instance id>" follows; it heartbeats every 5 s and
is deregistered on SIGINT/SIGTERM (a process killed outright leaves a row that readers
ignore once its pid is gone).
With --plugin (launched by \`wirecall plugin run\`, launchPlugin or another go-plugin
host), the first stdout line is the handshake line instead, e.g.
"1|1|unix|/tmp/plugin-dir1/plugin2|wirecall|", in the directory or port range the host
asked for, with AutoMTLS when the host sends PLUGIN_CLIENT_CERT; it exits when the host
goes away; SIGINT is ignored (the host decides), SIGTERM closes it gracefully. Not with an
endpoint, --register or --tls-* (docs/PLUGINS.md).
SIGINT/SIGTERM close the server gracefully and exit 0; a second signal exits at once.
With -v, stderr gets a line per connection, call, stream and notification, e.g.
"call add {"a":1,"b":2} from tcp://127.0.0.1:50312", and for a method it cannot serve
"call nope {"x":1} from tcp://127.0.0.1:50312: METHOD_NOT_FOUND (no such method)".
${DEMO_METHODS_HELP}
${TOKEN_HELP}
${TLS_HELP}
${ENDPOINT_HELP}
${EXIT_CODES_HELP}`,
    )
    .action(async (endpoint: string | undefined, flags: ServeFlags) => {
      process.exitCode = await serve(endpoint, flags);
    });
}

function parsePluginNetwork(text: string): 'unix' | 'tcp' {
  if (text !== 'unix' && text !== 'tcp') throw new InvalidArgumentError('expected unix or tcp');
  return text;
}

async function serve(endpoint: string | undefined, flags: ServeFlags): Promise<number> {
  // dcc-mcp-core clients (on the same port) send UTF-8 JSON params, what the demo methods take.
  const options: ServerOptions = { name: flags.name ?? 'wirecall-demo', version: packageVersion(), dccMcp: { codec: 'json' } };
  const token = resolveToken(flags);
  if (token !== undefined) options.token = token;
  const tls = serverTlsOptions(flags);
  if (tls !== undefined) options.tls = tls;
  if (flags.socketMode !== undefined) options.socketMode = flags.socketMode;
  if (flags.drainTimeout !== undefined) options.drainTimeout = flags.drainTimeout;
  const log = flags.verbose ? (line: string) => process.stderr.write(line + '\n') : undefined;
  if (flags.plugin !== undefined) checkPluginFlags(endpoint, flags);
  const server = registerDemoMethods(createServer<DemoService, DemoClient>(options));
  // A dcc-mcp-core peer is cut silently on a bad frame, as it cuts its own: say so here, once.
  server.on('connection', (c) => {
    if (c.peer?.dialect !== 'dcc-mcp') return;
    c.once('close', (error) => {
      if (error instanceof ProtocolError) process.stderr.write(`dcc-mcp peer ${c.peer?.address ?? 'unknown'} cut: ${error.code}: ${error.message}\n`);
    });
  });
  if (log !== undefined) {
    server.on('connection', (c) => {
      const address = c.peer?.address ?? 'unknown';
      log(`connected ${address} (${c.peer?.name ?? '?'} ${c.peer?.version ?? '?'})`);

      c.on('notification', (method, params) => log(`notification ${method} ${toJsonLine(params)}`));
      c.once('close', (error) => log(`disconnected ${address}${error ? ` (${error.code}: ${error.message})` : ''}`));
    });
    server.on('connectionError', (error, address) => log(`handshake failed from ${address}: ${error.code}: ${error.message}`));
    // Every call and stream, unknown methods too (call-log.ts).
    logCalls(log);
  }

  if (flags.plugin !== undefined) {
    try {
      // servePlugin prints the handshake line, watches the host and the signals, and exits 0 when done.
      await servePlugin(server, { network: flags.plugin === 'tcp' ? 'tcp' : 'unix', ...(options.drainTimeout === undefined ? {} : { drainTimeout: options.drainTimeout }) });
    } catch (err) {
      await server.close();
      return reportError(err);
    }
    return new Promise<number>(() => {});
  }

  // Installed before listening, so a signal during startup also ends in a clean close.
  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => (stopped = resolve));
  const removeHandlers = onInterrupt((signal) => {
    log?.(`${signal}: closing`);
    stopped();
  });
  let registered: RegisteredServer | undefined;
  try {
    let url: string;
    if (flags.register === undefined) {
      url = await server.listen(endpoint);
    } else {
      registered = await serveRegistered(server, {
        dccType: flags.register,
        ...(endpoint === undefined ? {} : { endpoint }),
        ...(flags.registryDir === undefined ? {} : { registryDir: flags.registryDir }),
        ...(flags.scene === undefined ? {} : { scene: flags.scene }),
        version: packageVersion(),
        ...(options.name === undefined ? {} : { metadata: { server: options.name } }),
        handleSignals: false, // our own handlers below close (and so deregister) it
        onWarning: (message) => process.stderr.write(`warning: ${message}\n`),
      });
      url = registered.endpoint;
    }
    process.stdout.write(`listening on ${url}\n`);
    if (registered !== undefined) process.stdout.write(`registered ${registered.dccType} ${registered.instanceId}\n`);
  } catch (err) {
    removeHandlers();
    await server.close();
    return reportError(err);
  }
  await stop;
  if (registered !== undefined) {
    try {
      await registered.close();
    } catch (err) {
      // The server is closed either way; say why the row may linger (readers skip it once we are gone).
      process.stderr.write(`warning: could not deregister: ${errorMessage(err)}\n`);
      await server.close();
    }
  } else {
    await server.close();
  }
  log?.('closed');
  // Everything is closed; exit now rather than wait on anything a handler left behind.
  process.exit(0);
}

/** --plugin: the host says where to listen and brings AutoMTLS; a registry row would outlive the plugin's purpose. */
function checkPluginFlags(endpoint: string | undefined, flags: ServeFlags): void {
  if (endpoint !== undefined) throw new UsageError('--plugin listens where the host asks (PLUGIN_UNIX_SOCKET_DIR, PLUGIN_MIN_PORT…): give no endpoint');
  if (flags.register !== undefined) throw new UsageError('--plugin and --register do not go together');
  if (flags.tlsCert !== undefined || flags.tlsKey !== undefined || flags.tlsCa !== undefined) {
    throw new UsageError('--plugin takes no --tls-* flags: TLS comes from the host (AutoMTLS)');
  }
}
