/**
 * wirecall benchmark suite.
 *
 *   npm run bench                        everything: the spec suite of issue 4 (raw,
 *                                        wirecall, grpc-js, vscode-jsonrpc), the memory
 *                                        probe, then the extra groups
 *   npm run bench -- --quick --json r.json   the same in under 3 minutes, JSON to r.json
 *   node dist/bench/run.js --runs 9      more runs (the tables show the median)
 *   node dist/bench/run.js --filter spec/unix --filter memory
 *   node dist/bench/run.js --list        scenario ids, for --filter
 *
 * Markdown tables go to stdout, progress to stderr, the spec results to --json FILE, and
 * every raw result to .bench-results/<date>.json (unless --no-save or --out FILE).
 *
 * Layout: cli/ is the command line (options, report, results files), spec-suite/ the
 * spec suite, groups/ the extra groups and the memory probe, systems/ the servers and
 * clients they measure, lib/ what all of them use; child.ts is every child process.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCli } from './cli/options.js';
import { comparisonTable, detailTable, groupTable, memoryTable, progressLine, sideBySideTable, targetTable, tlsTargetTable } from './cli/report.js';
import { loadText, machine, machineText, revision, specJson, writeJson } from './cli/results.js';
import { GROUPS } from './groups/index.js';
import { MEMORY_ID, measureMemory, type MemoryResult } from './groups/memory.js';
import { runGroup, type ScenarioResult } from './groups/runner.js';
import type { Scenario } from './groups/scenario.js';
import { runSpec, specIds, type SpecRow } from './spec-suite/suite.js';

async function main(): Promise<number> {
  const { config, spec, filters, save, out, json, list } = parseCli();
  const matchesId = (id: string): boolean => filters.length === 0 || filters.some((f) => id.includes(f));
  const matches = (s: Scenario): boolean => matchesId(s.id);
  const plan = GROUPS.map((g) => ({ group: g, scenarios: g.scenarios().filter(matches) })).filter((p) => p.scenarios.length > 0);
  const specCells = specIds().filter(matchesId);
  const runMemory = matchesId(MEMORY_ID);
  if (list) {
    for (const id of specIds()) console.log(id);
    console.log(MEMORY_ID);
    for (const { scenarios } of plan) for (const s of scenarios) console.log(s.id);
    return 0;
  }
  const total = plan.reduce((n, p) => n + p.scenarios.length, 0);
  if (total === 0 && specCells.length === 0 && !runMemory) {
    console.error(`no scenario matches ${filters.map((f) => JSON.stringify(f)).join(' or ')}; see --list`);
    return 2;
  }

  const startedAt = new Date();
  const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const info = { ...machine(), revision: revision(root) };
  const loadStart = loadText();
  console.log(`# wirecall benchmarks — ${startedAt.toISOString()}\n`);
  console.log(`wirecall ${info.revision}; ${info.cpu}, ${info.cpus} CPUs, ${info.memoryGiB} GiB, ${info.platform}, Node ${info.node}`);
  console.log(`Load average at start: ${loadStart}.\n`);

  // ---- the spec suite (issue 4) and the memory probe
  let specRows: SpecRow[] = [];
  let memory: MemoryResult | undefined;
  let memoryError: string | undefined;
  if (specCells.length > 0) {
    console.log(
      `## raw vs wirecall vs grpc-js vs vscode-jsonrpc\n\n` +
        `${config.quick ? 'QUICK run: short runs, read the ratios with care. ' : ''}` +
        `Median of ${spec.rounds} interleaved run(s) of ${spec.runMs} ms per system, after a ${spec.warmupMs} ms warm-up run each` +
        ` and ${spec.serverWarmupMs} ms of pipelined calls on every fresh client/server pair. Each server and each client in a process of its own.\n`,
    );
    const wanted = new Set(specCells);
    specRows = await runSpec(spec, (id) => wanted.has(id), (line) => console.error(line));
    console.log(`${sideBySideTable(specRows)}\n`);
    console.log(`### Targets (issue 4)\n\n${targetTable(specRows)}\n`);
    if (specRows.some((r) => r.transport === 'tls')) console.log(`### TLS targets (issue 15)\n\n${tlsTargetTable(specRows)}\n`);
    console.log(`### Every row\n\n${detailTable(specRows)}\n`);
  }
  if (runMemory) {
    try {
      memory = await measureMemory('unix');
      console.error(`[memory] ${memory.calls} pending calls: +${memory.heap_delta_mb} MB heap (${memory.bytes_per_call} B per call)`);
      console.log(`### Memory: calls in flight\n\n${memoryTable(memory)}\n`);
    } catch (err) {
      memoryError = (err as Error)?.message ?? String(err);
      console.log(`### Memory: calls in flight\n\nFAILED: ${memoryError}\n`);
    }
  }

  // ---- the extra groups
  const all: ScenarioResult[] = [];
  if (total > 0) {
    console.log(
      `## Extra groups\n\n` +
        `${config.quick ? 'QUICK smoke run (numbers are not meaningful). ' : ''}` +
        `Median of ${config.runs} run(s) of ${config.runMs} ms each (payload rows: half), after a ${config.warmupMs} ms warm-up` +
        `${config.serverWarmupMs > 0 ? ` (and ${config.serverWarmupMs} ms of echo calls for every freshly started server)` : ''}.\n`,
    );
  }
  let done = 0;
  for (const { group, scenarios } of plan) {
    const results = await runGroup(scenarios, config, (r) => {
      all.push(r);
      console.error(`[${++done}/${total}] ${r.id}: ${progressLine(r)}`);
    });
    console.log(`### ${group.heading}\n\n${groupTable(group, results)}\n`);
  }
  const comparison = comparisonTable(all);
  if (comparison !== undefined) console.log(`### wirecall vs grpc-js (Buffer echo, both servers in a child process)\n\n${comparison}\n`);

  const failed = all.filter((r) => r.error !== undefined);
  const specFailed = specRows.filter((r) => r.error !== undefined);
  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const loadEnd = loadText();
  console.log(
    `${specRows.length} spec rows, ${all.length} extra scenarios in ${seconds.toFixed(1)} s` +
      `${failed.length + specFailed.length > 0 ? `, ${failed.length + specFailed.length} FAILED` : ''}. Load average at the end: ${loadEnd}.`,
  );

  if (json !== undefined) {
    const file = path.resolve(json);
    const doc = specJson(specRows, memory, {
      date: startedAt.toISOString(),
      machine: machineText(info),
      node: info.node,
      commit: info.revision,
      quick: config.quick,
      seconds: Number(seconds.toFixed(1)),
      load: { start: loadStart, end: loadEnd },
      config: spec,
      ...(memoryError === undefined ? {} : { memory_error: memoryError }),
    });
    await writeJson(file, doc);
    console.error(`spec results: ${path.relative(process.cwd(), file) || file}`);
  }
  if (save || out !== undefined) {
    const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
    const file = out !== undefined ? path.resolve(out) : path.join(root, '.bench-results', `${stamp}${config.quick ? '-quick' : ''}.json`);
    await writeJson(file, { date: startedAt.toISOString(), machine: info, config, spec, filters, specRows, memory, results: all });
    console.error(`raw results: ${path.relative(process.cwd(), file) || file}`);
  }
  for (const f of specFailed) console.error(`FAILED spec/${f.transport}/${f.scenario}/${f.system}: ${f.error}`);
  for (const f of failed) console.error(`FAILED ${f.id}: ${f.error}`);
  if (memoryError !== undefined) console.error(`FAILED ${MEMORY_ID}: ${memoryError}`);
  return failed.length > 0 || specFailed.length > 0 || memoryError !== undefined ? 1 : 0;
}

main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
