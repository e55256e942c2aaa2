/**
 * The command line: flags, their defaults in a full and a --quick run, the usage text.
 * Bad arguments exit with code 2, --help with 0.
 */
import { parseArgs } from 'node:util';
import type { GroupConfig } from '../groups/scenario.js';
import type { SpecConfig } from '../spec-suite/suite.js';

const USAGE = `usage: node dist/bench/run.js [--quick] [--json FILE] [--runs N] [--time MS] [--warmup MS] [--filter TEXT]... [--no-save] [--out FILE] [--list]

  --quick        the whole suite in under 3 minutes: spec suite with 3 runs of 400 ms,
                 the memory probe, and the extra groups as a smoke run (tiny budgets)
  --json FILE    write the spec results (issue 4's format: date, machine, node, results,
                 plus targets and memory) to FILE
  --runs N       measured runs per scenario; tables show the median (default 7 for the
                 spec suite, 5 for the extra groups; --quick: 3 and 1)
  --time MS      time budget of one measured run (default 1000; --quick: 400 / 25)
  --warmup MS    unmeasured warm-up run before the measured ones (default 1000; --quick: 300 / 10)
  --filter TEXT  only scenarios whose id contains TEXT (repeatable: any match); see --list.
                 Spec cells are spec/<unix|tcp>/<scenario>/<system>, the probe memory/unix/wirecall
  --no-save      do not write .bench-results/<date>.json
  --out FILE     write the raw JSON results (every run) to FILE instead
  --list         print the scenario ids and exit`;

export interface Cli {
  /** The extra groups. */
  config: GroupConfig;
  /** The spec suite. */
  spec: SpecConfig;
  filters: string[];
  save: boolean;
  out?: string;
  json?: string;
  list: boolean;
}

export function parseCli(): Cli {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        runs: { type: 'string' },
        filter: { type: 'string', multiple: true },
        quick: { type: 'boolean', default: false },
        time: { type: 'string' },
        warmup: { type: 'string' },
        'no-save': { type: 'boolean', default: false },
        out: { type: 'string' },
        json: { type: 'string' },
        list: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (text: string | undefined, fallback: number, what: string, min = 1): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) {
      console.error(`${what} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
      process.exit(2);
    }
    return n;
  };
  const config: GroupConfig = {
    quick,
    runs: int(values.runs, quick ? 1 : 5, '--runs'),
    runMs: int(values.time, quick ? 25 : 1000, '--time'),
    serverWarmupMs: quick ? 0 : 3000,
    warmupMs: values.warmup === undefined ? (quick ? 10 : 1000) : int(values.warmup, 0, '--warmup', 0),
    maxOps: quick ? 200_000 : 5_000_000,
  };
  const spec: SpecConfig = {
    rounds: int(values.runs, quick ? 3 : 7, '--runs'),
    runMs: int(values.time, quick ? 400 : 1000, '--time'),
    warmupMs: values.warmup === undefined ? (quick ? 300 : 1000) : int(values.warmup, 0, '--warmup', 0),
    serverWarmupMs: quick ? 2000 : 3000,
    maxOps: 5_000_000,
  };
  const result: Cli = {
    config,
    spec,
    filters: values.filter ?? [],
    save: !(values['no-save'] ?? false),
    list: values.list ?? false,
  };
  if (values.out !== undefined) result.out = values.out;
  if (values.json !== undefined) result.json = values.json;
  return result;
}
