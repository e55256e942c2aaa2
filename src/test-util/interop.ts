/**
 * The real peers the interop tests run: the Python virtual environments that
 * `npm run setup:interop` (scripts/setup-interop.sh) makes under .interop/. One place for
 * their paths, the pinned versions, and the rule: without the latest venv, a test file
 * is skipped with one line saying how to set it up, except with CI=true, where it fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './build.js';

const SETUP = readFileSync(path.join(ROOT, 'scripts/setup-interop.sh'), 'utf8');

/** The pinned latest dcc-mcp-core release. */
export const LATEST = /^LATEST=(\S+)$/m.exec(SETUP)![1]!;
/** The pinned Python msgpack. */
export const MSGPACK = /^MSGPACK=(\S+)$/m.exec(SETUP)![1]!;
/** Python of the latest release's venv. */
export const PYTHON = path.join(ROOT, `.interop/dcc-mcp-core-${LATEST}/bin/python`);
/** Python of the opt-in 0.13.6 build (not on PyPI: built from a source checkout, see the script). */
export const PYTHON_0136 = path.join(ROOT, '.interop/dcc-mcp-core-0.13.6/bin/python');

export const inCI = process.env.CI === 'true';

export interface InteropPeer {
  /** The latest venv is there. */
  readonly installed: boolean;
  /** Run the file's tests: installed, or CI (where a missing venv must fail them). */
  readonly run: boolean;
  /** The first test of a file: fails with `what` and how to set up when the venv is missing. */
  requireInstalled(): void;
}

/** The latest venv for a test file named by `what`; prints the one skip line when it is missing outside CI. */
export function interopPeer(what: string): InteropPeer {
  const installed = existsSync(PYTHON);
  const line = `${what}: run \`npm run setup:interop\` first`;
  if (!installed && !inCI) process.stderr.write(`${line}\n`);
  return {
    installed,
    run: installed || inCI,
    requireInstalled(): void {
      if (!installed) expect.fail(`${line} (CI=true: the interop peers must be installed; missing ${PYTHON})`);
    },
  };
}
