/**
 * --tls-cert, --tls-key, --tls-ca (and a client's --tls-servername): PEM files for TLS
 * (docs/TLS.md). A tls:// endpoint turns TLS on by itself; any of these flags turns it on
 * for a tcp:// one, and for a client on a Unix socket (an AutoMTLS plugin's: `wirecall
 * plugin run --auto-mtls` prints the flags). A server given --tls-ca requires client certificates signed by it
 * (mutual TLS). A file that cannot be read is a usage error (exit 2).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import type { TlsClientOptions, TlsServerOptions } from '../index.js';
import { errorMessage } from '../util/error-message.js';
import { UsageError } from './usage-error.js';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsServername?: string;
}

export const TLS_HELP = `
TLS (tls://host:port, or any --tls-* flag on a tcp:// endpoint, or on a Unix socket
for call, notify and ping: an AutoMTLS plugin's; docs/TLS.md):
  --tls-cert <file>  our certificate (PEM); a server needs one, a client sends one for mutual TLS
  --tls-key <file>   its private key (PEM)
  --tls-ca <file>    CA certificates (PEM): a client trusts servers signed by them (default:
                     the system's CAs); a server requires client certificates signed by
                     them (mutual TLS)
  The server's name is checked against the host dialled (--tls-servername to override).
  A refused certificate, a wrong name, an expired certificate, a missing client
  certificate, or TLS on one side only each exit 3 with its own code
  (ERR_TLS_CERT_UNTRUSTED, ERR_TLS_CERT_NAME_MISMATCH, ERR_TLS_CERT_EXPIRED,
  ERR_TLS_CLIENT_CERT_REQUIRED, ERR_TLS_REQUIRED, ERR_TLS_NOT_OFFERED).`;

export function tlsFlags<C extends Command>(command: C, role: 'client' | 'server'): C {
  const mine = role === 'server' ? 'the server certificate (PEM file)' : 'our client certificate for mutual TLS (PEM file)';
  const ca = role === 'server' ? 'require client certificates signed by these CAs (PEM file): mutual TLS' : "trust servers signed by these CAs (PEM file) instead of the system's";
  const out = command
    .option('--tls-cert <file>', `TLS: ${mine}`)
    .option('--tls-key <file>', 'TLS: the private key of --tls-cert (PEM file)')
    .option('--tls-ca <file>', `TLS: ${ca}`);
  return role === 'client' ? out.option('--tls-servername <name>', "TLS: the name the server's certificate must carry (default: the host dialled)") : out;
}

function readPem(file: string, flag: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: cannot read it (${errorMessage(err)})`);
  }
}

function any(flags: TlsFlags): boolean {
  return flags.tlsCert !== undefined || flags.tlsKey !== undefined || flags.tlsCa !== undefined || flags.tlsServername !== undefined;
}

function pair(flags: TlsFlags): { cert?: Buffer; key?: Buffer } {
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  if (flags.tlsCert === undefined || flags.tlsKey === undefined) return {};
  return { cert: readPem(flags.tlsCert, '--tls-cert'), key: readPem(flags.tlsKey, '--tls-key') };
}

/** The client's `tls` option: undefined when neither a flag nor the endpoint asks for TLS. */
export function clientTlsOptions(flags: TlsFlags, endpoint: string): TlsClientOptions | undefined {
  if (!any(flags) && !/^tls:/i.test(endpoint)) return undefined;
  const options: TlsClientOptions = { ...pair(flags) };
  if (flags.tlsCa !== undefined) options.ca = readPem(flags.tlsCa, '--tls-ca');
  if (flags.tlsServername !== undefined) options.servername = flags.tlsServername;
  // Flags given for a Unix socket mean it: TLS there too (plain otherwise, as the library does).
  if (/^(unix:|\/)/i.test(endpoint)) options.unixSockets = true;
  return options;
}

/** The server's `tls` option: undefined without --tls-* flags (a tls:// endpoint then says what is missing). */
export function serverTlsOptions(flags: TlsFlags): TlsServerOptions | undefined {
  if (!any(flags)) return undefined;
  if (flags.tlsCert === undefined) throw new UsageError('a TLS server needs --tls-cert and --tls-key');
  const options: TlsServerOptions = { ...pair(flags) };
  if (flags.tlsCa !== undefined) {
    options.ca = readPem(flags.tlsCa, '--tls-ca');
    options.requestCert = true;
  }
  return options;
}
