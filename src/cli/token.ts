/**
 * Where a command's handshake token comes from: --token, --token-file or $WIRECALL_TOKEN,
 * in that order of precedence; --token and --token-file together are a usage error.
 *
 * A token on the command line is in /proc/<pid>/cmdline, i.e. in `ps` output for every
 * local user, so --token still works but warns. As with ssh and the docker CLI, the
 * token can instead come from the environment (/proc/<pid>/environ is readable by the
 * same user and root only) or from a file that only its owner can read, checked the
 * way ssh checks a private key.
 */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { errorMessage } from '../util/error-message.js';
import { UsageError } from './common.js';

export const TOKEN_ENV = 'WIRECALL_TOKEN';
/** The code in `error: ERR_TOKEN_FILE: …` when a token file is refused. */
export const TOKEN_FILE_ERROR = 'ERR_TOKEN_FILE';
/** A token is short; a bigger file is a wrong path, not a token. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

export const TOKEN_HELP = `
Tokens (--token, --token-file, $${TOKEN_ENV}):
  --token <token>      on the command line, where every local user can see it (ps,
                       /proc/<pid>/cmdline): works, with a warning on stderr
  --token-file <path>  the file's content, one trailing newline removed; the file must
                       be a regular file of yours that no one else can read or write
                       (chmod 600 <path>); a symlink is followed and its target checked
  $${TOKEN_ENV}      used when neither option is given (empty means unset)
  --token wins over --token-file, which wins over $${TOKEN_ENV}; giving both
  options is a usage error. A refused token file exits 2 with "error: ${TOKEN_FILE_ERROR}: …".`;

export interface TokenFlags {
  token?: string;
  tokenFile?: string;
}

/** Adds --token and --token-file; `use` says what the token is for. */
export function tokenFlags<C extends Command>(command: C, use: string): C {
  return command
    .addOption(new Option('--token <token>', `${use} (visible to other local users: prefer --token-file or $${TOKEN_ENV})`).conflicts('tokenFile'))
    .addOption(new Option('--token-file <path>', `${use}, read from this file (must be private: chmod 600)`));
}

let warned = false;

/**
 * The token to use, or undefined for none. Throws UsageError for a refused token file.
 * Warns once on stderr when the token came from the command line; stdout and the exit
 * code stay as they were.
 */
export function resolveToken(flags: TokenFlags, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flags.token !== undefined && flags.tokenFile !== undefined) {
    throw new UsageError('--token and --token-file cannot be used together');
  }
  if (flags.token !== undefined) {
    if (!warned) {
      warned = true;
      process.stderr.write(
        `warning: a token given with --token is visible to other local users (ps); use $${TOKEN_ENV} or --token-file instead\n`,
      );
    }
    return flags.token;
  }
  if (flags.tokenFile !== undefined) return readTokenFile(flags.tokenFile);
  const fromEnv = env[TOKEN_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/**
 * The token in `file`. The checks are made on the open descriptor (fstat), so they are
 * about the very file that is read: a symlink is followed and its target must pass,
 * and nothing can be swapped in between. Opened non-blocking, so a FIFO does not hang us
 * (it is refused: not a regular file). On Windows, where modes mean little, the owner
 * and mode checks are skipped.
 */
export function readTokenFile(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw refused(`cannot read the token file ${file}: ${errorMessage(err)}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw refused(`the token file ${file} is not a regular file`);
    if (process.platform !== 'win32') {
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) {
        throw refused(`the token file ${file} is owned by uid ${st.uid}, not by you (uid ${uid}); use a file of your own`);
      }
      if ((st.mode & 0o077) !== 0) {
        const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
        throw refused(`the token file ${file} is accessible by others (mode ${mode}); run: chmod 600 ${shellQuote(file)}`);
      }
    }
    if (st.size > MAX_TOKEN_FILE_BYTES) throw refused(`the token file ${file} is over ${MAX_TOKEN_FILE_BYTES} bytes: not a token`);
    const token = fs.readFileSync(fd, 'utf8').replace(/\r?\n$/, '');
    if (token === '') throw refused(`the token file ${file} is empty`);
    return token;
  } finally {
    fs.closeSync(fd);
  }
}

function refused(message: string): UsageError {
  return new UsageError(message, TOKEN_FILE_ERROR);
}

/** `path` as one shell word, for a command the user can paste. */
function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
