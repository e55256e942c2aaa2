#!/usr/bin/env node
/**
 * The `wirecall` command: serve the demo methods, call, notify and ping servers, list
 * the services in the registry.
 * Argument parsing and printing only; everything else comes from the library.
 */
import { Command, CommanderError } from 'commander';
import { callCommand, notifyCommand } from './call-command.js';
import { ENDPOINT_HELP, EXIT_CODES_HELP, ExitCode, packageVersion, reportError, usageErrorOf } from './common.js';
import { pingCommand } from './ping-command.js';
import { pluginCommand } from './plugin-command.js';
import { serveCommand } from './serve-command.js';
import { servicesCommand } from './services-command.js';
import { TOKEN_HELP } from './token.js';

export function createProgram(): Command {
  const program = new Command('wirecall')
    .description('wirecall: RPC over TCP, Unix sockets and named pipes')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addHelpText('after', `${TOKEN_HELP}\n${ENDPOINT_HELP}\n${EXIT_CODES_HELP}`);
  // Subcommands added with addCommand do not inherit settings: configure each one.
  const commands = [serveCommand(), callCommand(), notifyCommand(), pingCommand(), servicesCommand(), pluginCommand()];
  for (const cmd of [program, ...commands]) {
    // Commander's own errors are printed by main() in the form of every other error.
    cmd.exitOverride().helpOption('-h, --help', 'show help').configureOutput({ outputError: () => {} });
    if (cmd !== program) program.addCommand(cmd);
  }
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  // `wirecall --help | head -1`: a reader that goes away is not our error (EPIPE).
  process.stdout.on('error', () => {});
  try {
    await createProgram().parseAsync([...argv]);
  } catch (err) {
    // Help and --version "exit" with 0; every other commander error is a usage error.
    if (err instanceof CommanderError && err.exitCode === 0) process.exitCode = ExitCode.OK;
    else process.exitCode = reportError(err instanceof CommanderError ? usageErrorOf(err) : err);
  }
}

await main();
