/**
 * services.json on disk: read and classify, write atomically, move a corrupt file aside.
 * Writers replace the file by rename, so a reader always sees one whole version.
 */
import fs from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { RegistryFileError, SerializationError } from '../../errors.js';
import { errorCode } from '../../util/error-code.js';
import { errorMessage } from '../../util/error-message.js';

export type FileState =
  | { kind: 'missing' }
  /** 0 bytes or only whitespace: what a truncate-then-write writer leaves for a moment. */
  | { kind: 'empty' }
  | { kind: 'rows'; rows: unknown[] }
  | { kind: 'corrupt'; reason: string; bytes: Buffer };

// Windows refuses to open a file that is being renamed over: retry briefly.
const TRANSIENT = new Set(['EBUSY', 'EPERM', 'EACCES']);
const READ_ATTEMPTS = 3;

export async function readRegistryFile(file: string): Promise<FileState> {
  for (let attempt = 1; ; attempt++) {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT') return { kind: 'missing' };
      if (process.platform === 'win32' && code !== undefined && TRANSIENT.has(code) && attempt < READ_ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
        continue;
      }
      throw new RegistryFileError(`cannot read ${file}: ${errorMessage(err)}`, { cause: err });
    }
    return classify(bytes);
  }
}

export function classify(bytes: Buffer): FileState {
  if (bytes.includes(0)) return { kind: 'corrupt', reason: 'it contains NUL bytes (zero-filled after a crash?)', bytes };
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM from a Windows editor
  if (text.trim() === '') return { kind: 'empty' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { kind: 'corrupt', reason: `it is not valid JSON (${errorMessage(err)})`, bytes };
  }
  if (!Array.isArray(parsed)) return { kind: 'corrupt', reason: 'its top level is not a JSON array', bytes };
  return { kind: 'rows', rows: parsed };
}

/** Pretty-printed like dcc-mcp-core; temp file + fsync + rename. */
export async function writeRegistryFile(file: string, rows: readonly unknown[]): Promise<void> {
  let text: string;
  try {
    text = JSON.stringify(rows, null, 2) + '\n';
  } catch (err) {
    throw new SerializationError(`cannot encode the registry as JSON: ${errorMessage(err)}`, { cause: err });
  }
  try {
    await writeFileAtomic(file, text, { fsync: true });
  } catch (err) {
    throw new RegistryFileError(`cannot write ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Renames `file` to `<file>.corrupted-<unix ms>` (never over an earlier one); returns the new path. */
export async function quarantine(file: string): Promise<string | undefined> {
  const stamp = Date.now();
  for (let n = 0; n < 100; n++) {
    const aside = `${file}.corrupted-${stamp}${n === 0 ? '' : `-${n}`}`;
    try {
      await fs.access(aside);
      continue; // taken
    } catch {
      // free
    }
    try {
      await fs.rename(file, aside);
      return aside;
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined; // already gone
      throw new RegistryFileError(`cannot move the corrupt ${file} aside: ${errorMessage(err)}`, { cause: err });
    }
  }
  throw new RegistryFileError(`cannot move the corrupt ${file} aside: too many ${file}.corrupted-${stamp}* files`);
}
