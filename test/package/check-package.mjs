#!/usr/bin/env node
// The package as a user gets it (issue 14, items 1, 3 and 4): `npm pack`, install the
// tarball in a scratch project under a temp dir, and check there
//
//   1. what ships: exactly dist/src (the .js and .d.ts of every non-test source in src/,
//      no source maps, no test-util, no dist/bench or dist/examples), docs/, README.md,
//      LICENSE and package.json;
//   2. both entry points, `wirecall` and `wirecall/manager`, through import and through
//      require() (Node >= 20.19 / 22.12 load the ES modules synchronously: the module graph
//      must keep free of top-level await), each with a real call (server and client in one
//      process, and a registered service reached through a TransportManager session); the
//      same module instance either way; a TypeScript CommonJS consumer (.cts, module
//      nodenext) compiles and runs too; the `wirecall` bin answers --version and a call;
//   3. the TypeScript samples of the docs: every ```ts block of README.md and docs/*.md is
//      one file, compiled with `tsc --strict` (skipLibCheck off, so the shipped .d.ts are
//      checked too) against the installed tarball, and the runnable ones are run.
//
// Sample convention (the info string of a ```ts fence; GitHub highlights by its first word
// and ignores the rest, as with the ```hex vector:… blocks of docs/DCC-*.md):
//
//   ```ts                       a complete module: type-checked only (it may need a peer the
//                               test does not have: a DCC, a dcc-mcp-core process)
//   ```ts sample:run            type-checked, then run with Node: it must settle its top-level
//                               code without throwing within RUN_TIMEOUT_MS (a server left
//                               listening is fine; the process is ended 200 ms after the
//                               module settles, and an unhandled rejection by then fails it)
//   ```ts sample:setup=NAME     a fragment: compiled (and run, with sample:run) between the
//                               prelude and epilogue of SETUPS[NAME] below, which declare what
//                               it uses and does not show (imports, `server`, `conn`, a
//                               registered 'maya' service…)
//
// Samples are named <file>#<slug of the heading above them>, with -2, -3… for further
// samples under one heading (e.g. README.md#client). Each run gets its own empty
// WIRECALL_REGISTRY_DIR. A sample in KNOWN_FAILURES must fail to type-check with the code
// given there: while it does, it is reported and does not fail this check; once it
// compiles, this check fails until the entry is removed.
//
// Environment: KEEP_SCRATCH=1 keeps the scratch directory (its path is printed).
import { execFile as execFileCb, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const RUN_TIMEOUT_MS = 20_000;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * Samples that do not type-check yet, keyed by sample id: { code: 'TS7031', reason: '…' }.
 * Empty: README.md#client (`handlers: { confirm: ({ question }) => true }`, TS7031 implicit
 * any, issue 14 item 1) compiles since connect()'s handlers are typed from the local contract.
 */
const KNOWN_FAILURES = {};

/** Scaffolding for fragments (sample:setup=NAME). Prelude names start with __ unless the sample uses them. */
const SETUPS = {
  // A server with no methods yet and a connection to it: the sample registers and calls.
  conn: {
    prelude: `import { createServer, connect } from 'wirecall';
const server = createServer();
const conn = await connect(await server.listen());`,
    epilogue: `await conn.close();
await server.close();`,
  },
  // The README's typed-contract sample: an endpoint served elsewhere (type-checked only).
  contract: {
    prelude: `import { createServer, connect } from 'wirecall';
declare const endpoint: string;`,
    epilogue: '',
  },
  // Only the imports the sample leaves out.
  imports: {
    prelude: `import { createServer, connect } from 'wirecall';`,
    epilogue: '',
  },
  // docs/MANAGER.md's serveRegistered sample: the application's own function.
  'open-scene': {
    prelude: `declare function openScene(path: string): Promise<string>;`,
    epilogue: '',
  },
  // A live 'maya' instance in the (per-run) registry, serving what the manager samples call:
  // instance id starting with 3f2a, scene shot010.mb.
  maya: {
    prelude: MAYA_PRELUDE(''),
    epilogue: `await __maya.close();`,
  },
  // The same, and a manager.
  'maya-manager': {
    prelude: MAYA_PRELUDE(`import { TransportManager } from 'wirecall/manager';
const manager = new TransportManager();`),
    epilogue: `await manager.shutdown();
await __maya.close();`,
  },
  // A manager alone (its registry is the run's empty directory).
  manager: {
    prelude: `import { TransportManager } from 'wirecall/manager';
const manager = new TransportManager();`,
    epilogue: '',
  },
};

function MAYA_PRELUDE(extra) {
  return `import { createServer as __createServer } from 'wirecall';
import { serveRegistered as __serveRegistered } from 'wirecall/manager';
${extra}
const __server = __createServer({ name: 'maya' })
  .register('scene.open', ({ path }: { path: string }) => ({ opened: path }))
  .register('render', ({ frames }: { frames: number }) => frames)
  .registerStream('render.progress', async function* () { yield 50; yield 100; })
  .registerClientStream('cache.upload', async (messages: AsyncIterable<unknown>) => {
    let n = 0;
    for await (const _ of messages) n++;
    return n;
  });
const __maya = await __serveRegistered(__server, {
  dccType: 'maya', version: '2025.1', scene: 'shot010.mb', endpoint: 'tcp://127.0.0.1:0',
  instanceId: '3f2a0c1e-7b5d-4e8f-9a1b-2c3d4e5f6a7b', handleSignals: false,
});`;
}

// ---------------------------------------------------------------------------------------

const failures = [];
const notes = [];
const timings = [];
function fail(message) {
  failures.push(message);
  console.log(`  FAIL ${message}`);
}
async function step(name, fn) {
  const started = performance.now();
  console.log(`\n== ${name}`);
  try {
    return await fn();
  } catch (err) {
    fail(`${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return undefined;
  } finally {
    timings.push([name, performance.now() - started]);
  }
}

async function run(cmd, args, options = {}) {
  try {
    return await execFile(cmd, args, { maxBuffer: 64 << 20, ...options });
  } catch (err) {
    const e = /** @type {any} */ (err);
    const tail = (text, n) => String(text ?? '').trim().split('\n').slice(-n).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} failed (${e.code ?? e.signal}):\n${tail(e.stdout, 30)}\n${tail(e.stderr, 30)}`);
  }
}

/** Runs node on a file; resolves with { code, stdout, stderr } (never rejects on exit code). */
function runNode(args, { cwd, env, timeout = RUN_TIMEOUT_MS }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${timeout} ms]`;
      child.kill('SIGKILL');
    }, timeout);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

function installedVersion(name, fallback) {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return fallback;
  }
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'wirecall-package-'));
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
let tarball;
let packed;

// ---------------------------------------------------------------------------------------
// 1. pack (prepack builds and prunes orphaned outputs) and check what ships

await step('npm pack', async () => {
  const { stdout } = await run(NPM, ['pack', '--json', '--pack-destination', scratch], { cwd: ROOT });
  [packed] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  tarball = path.join(scratch, packed.filename);
  console.log(`  ${packed.filename}: ${packed.entryCount} files, ${(packed.size / 1024).toFixed(1)} KiB packed, ` +
    `${(packed.unpackedSize / 1024).toFixed(1)} KiB unpacked`);
});
if (!tarball) finish();

await step('tarball contents', async () => {
  const shipped = new Set(packed.files.map((f) => f.path));
  const expected = new Set(['package.json', 'README.md', 'LICENSE']);
  for (const f of readdirSync(path.join(ROOT, 'docs'), { recursive: true, withFileTypes: true })) {
    if (f.isFile()) expected.add(path.relative(ROOT, path.join(f.parentPath ?? f.path, f.name)).split(path.sep).join('/'));
  }
  const walk = (dir) => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (rel !== 'src/test-util') walk(rel);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts')) {
        const base = `dist/${rel.slice(0, -3)}`;
        expected.add(`${base}.js`);
        expected.add(`${base}.d.ts`);
      }
    }
  };
  walk('src');
  const missing = [...expected].filter((f) => !shipped.has(f));
  const extra = [...shipped].filter((f) => !expected.has(f));
  if (missing.length) fail(`missing from the tarball: ${missing.join(', ')}`);
  if (extra.length) fail(`in the tarball but not expected (stale build output? \`rm -rf dist && npm run build\`): ${extra.join(', ')}`);
  for (const [what, re] of [['source maps', /\.map$/], ['tests', /\.test\./], ['bench/examples', /^dist\/(bench|examples)\//], ['test-util', /test-util/]]) {
    const bad = [...shipped].filter((f) => re.test(f));
    if (bad.length) fail(`${what} in the tarball: ${bad.join(', ')}`);
  }
  const groups = {};
  for (const f of shipped) {
    const key = f.startsWith('dist/src/') ? `dist/src/*${path.extname(f) === '.ts' ? '.d.ts' : path.extname(f)}` : f;
    groups[key] = (groups[key] ?? 0) + 1;
  }
  console.log(`  ${Object.entries(groups).map(([k, n]) => (n > 1 ? `${k} (${n})` : k)).join(', ')}`);
  if (!missing.length && !extra.length) console.log(`  exactly the ${expected.size} expected files`);
});

// ---------------------------------------------------------------------------------------
// 2. a scratch project with the tarball installed

const project = path.join(scratch, 'project');
await step('npm install <tarball> in a scratch project', async () => {
  mkdirSync(project);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'wirecall-package-check', private: true, type: 'module' }, null, 2));
  const ts = `typescript@${installedVersion('typescript', pkg.devDependencies.typescript)}`;
  const types = `@types/node@${installedVersion('@types/node', pkg.devDependencies['@types/node'])}`;
  await run(NPM, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ts, types], { cwd: project });
  console.log(`  installed ${packed.filename}, ${ts}, ${types} in ${project}`);
});
if (!existsSync(path.join(project, 'node_modules', 'wirecall', 'package.json'))) finish();

// ---------------------------------------------------------------------------------------
// 3. entry points, import and require, each with a real call

const SMOKE_BODY = (load) => `
const assert = ${load.assert};
${load.modules}
const server = wirecall.createServer({ name: 'smoke' });
server.register('add', ({ a, b }) => a + b);
const conn = await wirecall.connect(await server.listen('tcp://127.0.0.1:0'));
assert.equal(await conn.call('add', { a: 2, b: 3 }), 5);
await assert.rejects(conn.call('nope'), wirecall.RemoteError);
await conn.close();
await server.close();

const registryDir = process.env.WIRECALL_REGISTRY_DIR;
const service = await manager.serveRegistered(
  wirecall.createServer({ name: 'maya' }).register('scene.name', () => 'shot010.mb'),
  { dccType: 'maya', registryDir, handleSignals: false },
);
const tm = new manager.TransportManager({ registryDir });
const session = await tm.getOrCreateSession('maya');
assert.equal(await session.call('scene.name'), 'shot010.mb');
await tm.shutdown();
await service.close();
console.log('ok', Object.keys(wirecall).length, 'exports,', Object.keys(manager).length, 'from wirecall/manager');
`;

const SMOKES = {
  'esm.mjs': SMOKE_BODY({
    assert: `(await import('node:assert/strict')).default`,
    modules: `const wirecall = await import('wirecall');
const manager = await import('wirecall/manager');
// require() of the same package gives the very same module instance (no dual-package copy).
if (process.features.require_module) {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  assert.equal(require('wirecall').connect, wirecall.connect);
  assert.equal(require('wirecall').RemoteError, wirecall.RemoteError);
  assert.equal(require('wirecall/manager').TransportManager, manager.TransportManager);
}`,
  }),
  'cjs.cjs': `(async () => {${SMOKE_BODY({
    assert: `require('node:assert/strict')`,
    modules: `const wirecall = require('wirecall');
const manager = require('wirecall/manager');
assert.equal(require('wirecall/package.json').name, 'wirecall');`,
  })}})().catch((err) => { console.error(err); process.exit(1); });`,
};

let registryCount = 0;
function registryDir() {
  const dir = path.join(scratch, `registry-${++registryCount}`);
  mkdirSync(dir);
  return dir;
}

await step('import and require both entry points, with a real call', async () => {
  const requireWorks = Boolean(process.features.require_module);
  if (!requireWorks) notes.push(`Node ${process.version} cannot require() ES modules (needs >= 20.19 or >= 22.12): require checks skipped`);
  for (const [file, source] of Object.entries(SMOKES)) {
    if (file.endsWith('.cjs') && !requireWorks) {
      console.log(`  SKIP ${file}: Node ${process.version} has no require(esm)`);
      continue;
    }
    writeFileSync(path.join(project, file), source);
    const r = await runNode([file], { cwd: project, env: { WIRECALL_REGISTRY_DIR: registryDir() } });
    if (r.code !== 0) fail(`${file} exited ${r.code}:\n${r.stdout}${r.stderr}`);
    else console.log(`  ${file}: ${r.stdout.trim()}${r.stderr.trim() ? ` (stderr: ${r.stderr.trim()})` : ''}`);
  }
});

await step('wirecall bin: --version and a call to `wirecall serve`', async () => {
  const bin = path.join(project, 'node_modules', 'wirecall', pkg.bin.wirecall);
  const version = await runNode([bin, '--version'], { cwd: project, timeout: 10_000 });
  if (version.code !== 0 || !version.stdout.includes(pkg.version)) fail(`wirecall --version: ${version.code} ${version.stdout}${version.stderr}`);
  if (!existsSync(path.join(project, 'node_modules', '.bin', 'wirecall'))) fail('node_modules/.bin/wirecall not linked');
  const serve = spawn(process.execPath, [bin, 'serve', 'tcp://127.0.0.1:0'], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const endpoint = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`wirecall serve printed no endpoint: ${out}`)), 10_000);
      serve.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      serve.on('exit', (code) => reject(new Error(`wirecall serve exited ${code}: ${out}`)));
    });
    const call = await runNode([bin, 'call', endpoint, 'add', '{"a":2,"b":3}'], { cwd: project, timeout: 10_000 });
    if (call.code !== 0 || call.stdout.trim() !== '5') fail(`wirecall call ${endpoint} add: ${call.code} ${call.stdout}${call.stderr}`);
    else console.log(`  wirecall ${version.stdout.trim()}; serve ${endpoint}; call add → ${call.stdout.trim()}`);
  } finally {
    serve.kill('SIGTERM');
  }
});

// ---------------------------------------------------------------------------------------
// 4. the docs' TypeScript samples (and a TypeScript CommonJS consumer) through tsc --strict

function slug(heading) {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-');
}

function extractSamples(doc) {
  const lines = readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const samples = [];
  const perHeading = new Map();
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const fence = /^(`{3,}|~{3,})\s*(\S*)(.*)$/.exec(lines[i]);
    if (!fence) {
      const h = /^#{1,6}\s+(.*)$/.exec(lines[i]);
      if (h) heading = h[1];
      continue;
    }
    const [, marker, lang, rest] = fence;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].startsWith(marker)) end++;
    i = end;
    if (lang !== 'ts' && lang !== 'typescript') continue;
    const tags = rest.trim().split(/\s+/).filter((t) => t.startsWith('sample:'));
    const n = (perHeading.get(heading) ?? 0) + 1;
    perHeading.set(heading, n);
    const id = `${doc}#${slug(heading)}${n > 1 ? `-${n}` : ''}`;
    const setup = tags.find((t) => t.startsWith('sample:setup='))?.slice('sample:setup='.length);
    const unknown = tags.filter((t) => t !== 'sample:run' && !t.startsWith('sample:setup='));
    if (unknown.length) fail(`${doc}:${start}: unknown sample tag(s) ${unknown.join(' ')}`);
    if (setup !== undefined && !(setup in SETUPS)) fail(`${doc}:${start}: no setup named ${setup} (SETUPS has ${Object.keys(SETUPS).join(', ')})`);
    samples.push({ id, doc, line: start + 1, code: lines.slice(start, end).join('\n'), run: tags.includes('sample:run'), setup });
  }
  return samples;
}

const CTS_CONSUMER = `// A CommonJS TypeScript consumer: compiled to require() calls (module nodenext).
import { createServer, connect } from 'wirecall';
import { TransportManager } from 'wirecall/manager';

async function main(): Promise<void> {
  const server = createServer<{ add(p: { a: number; b: number }): number }>();
  server.register('add', ({ a, b }) => a + b);
  const conn = await connect<{ add(p: { a: number; b: number }): number }>(await server.listen());
  const sum: number = await conn.call('add', { a: 2, b: 3 });
  if (sum !== 5) throw new Error(\`add gave \${sum}\`);
  await conn.close();
  await server.close();
  const manager = new TransportManager({ registryDir: process.env.WIRECALL_REGISTRY_DIR });
  await manager.shutdown();
  console.log('ok', typeof require === 'function' ? 'as CommonJS' : 'as ESM?');
}
main().catch((err: unknown) => { console.error(err); process.exit(1); });
`;

await step('docs samples: tsc --strict, then run the runnable ones', async () => {
  const dir = path.join(project, 'samples');
  mkdirSync(dir);
  const samples = DOCS.flatMap(extractSamples);
  const files = new Map();
  for (const s of samples) {
    const setup = s.setup !== undefined ? SETUPS[s.setup] : undefined;
    const prelude = setup ? `${setup.prelude}\n` : '';
    const header = `// ${s.id} (${s.doc}:${s.line})\n`;
    const source = `${header}${prelude}${s.code}\n${setup?.epilogue ? `${setup.epilogue}\n` : ''}`;
    s.file = `${s.id.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase()}.ts`;
    s.offset = header.split('\n').length - 1 + (prelude ? prelude.split('\n').length - 1 : 0);
    s.lines = s.code.split('\n').length;
    writeFileSync(path.join(dir, s.file), source);
    files.set(s.file, s);
  }
  writeFileSync(path.join(dir, 'cjs-consumer.cts'), CTS_CONSUMER);
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      moduleDetection: 'force',
      types: ['node'],
      skipLibCheck: false,
      outDir: 'out',
      rootDir: '.',
      pretty: false,
    },
    include: ['*.ts', '*.cts'],
  }, null, 2));
  console.log(`  ${samples.length} samples from ${DOCS.filter((d) => samples.some((s) => s.doc === d)).join(', ')}`);

  const tsc = path.join(project, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = await runNode([tsc, '-p', dir], { cwd: dir, timeout: 120_000 });
  const diagnostics = new Map();
  const foreign = [];
  for (const line of result.stdout.split('\n')) {
    const m = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line);
    if (!m) {
      if (line.trim() && !/^\s/.test(line)) foreign.push(line);
      continue;
    }
    const [, file, row, col, code, message] = m;
    const s = files.get(file);
    if (!s) {
      foreign.push(line);
      continue;
    }
    const inSample = Number(row) - s.offset;
    const where = inSample >= 1 && inSample <= s.lines ? `${s.doc}:${s.line + inSample - 1}:${col}` : `${s.file}:${row}:${col} (setup ${s.setup})`;
    const list = diagnostics.get(file) ?? [];
    list.push({ code, text: `${where} ${code}: ${message}` });
    diagnostics.set(file, list);
  }
  if (foreign.length) fail(`tsc reported errors outside the samples (the shipped .d.ts, or the CommonJS consumer):\n    ${foreign.join('\n    ')}`);
  if (result.code !== 0 && diagnostics.size === 0 && foreign.length === 0) fail(`tsc exited ${result.code}:\n${result.stdout}${result.stderr}`);

  const toRun = [];
  for (const s of samples) {
    const diags = diagnostics.get(s.file) ?? [];
    const known = KNOWN_FAILURES[s.id];
    if (known) {
      if (diags.length === 0) fail(`${s.id} type-checks now: remove it from KNOWN_FAILURES in test/package/check-package.mjs`);
      else if (!diags.some((d) => d.code === known.code)) fail(`${s.id} (known failure ${known.code}) fails differently:\n    ${diags.map((d) => d.text).join('\n    ')}`);
      else {
        notes.push(`known failure ${s.id}: ${known.reason}\n    ${diags.map((d) => d.text).join('\n    ')}`);
        console.log(`  known failure ${s.id} (${diags.map((d) => d.code).join(', ')})`);
      }
      continue;
    }
    if (diags.length) {
      fail(`${s.id} does not type-check:\n    ${diags.map((d) => d.text).join('\n    ')}`);
      continue;
    }
    if (s.run) toRun.push(s);
    else console.log(`  type-checks ${s.id}`);
  }
  for (const id of Object.keys(KNOWN_FAILURES)) {
    if (!samples.some((s) => s.id === id)) fail(`KNOWN_FAILURES names ${id}, which is no sample (renamed heading? fixed and retagged?)`);
  }

  // Run: the module settles, then 200 ms for late rejections, then exit.
  writeFileSync(path.join(dir, 'out', 'run-sample.mjs'),
    `await import(new URL(process.argv[2], import.meta.url).href);\nsetTimeout(() => process.exit(0), 200);\n`);
  for (const s of toRun) {
    const js = s.file.replace(/\.ts$/, '.js');
    const started = performance.now();
    const r = await runNode(['run-sample.mjs', `./${js}`], { cwd: path.join(dir, 'out'), env: { WIRECALL_REGISTRY_DIR: registryDir() } });
    const took = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    if (r.code !== 0) fail(`${s.id} (${s.doc}:${s.line}) ran and exited ${r.code} after ${took}:\n${(r.stdout + r.stderr).trim().split('\n').slice(-25).join('\n')}`);
    else console.log(`  type-checks and runs ${s.id} (${took})`);
  }

  if (!diagnostics.has('cjs-consumer.cts') && !foreign.some((l) => l.startsWith('cjs-consumer'))) {
    if (process.features.require_module) {
      const r = await runNode(['cjs-consumer.cjs'], { cwd: path.join(dir, 'out'), env: { WIRECALL_REGISTRY_DIR: registryDir() } });
      if (r.code !== 0 || !r.stdout.includes('as CommonJS')) fail(`cjs-consumer.cts compiled, ran: ${r.code} ${r.stdout}${r.stderr}`);
      else console.log('  type-checks and runs cjs-consumer.cts (TypeScript CommonJS, require())');
    }
  }
});

finish();

function finish() {
  console.log('\n== timings');
  for (const [name, ms] of timings) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${name}`);
  for (const note of notes) console.log(`\nNOTE ${note}`);
  if (process.env.KEEP_SCRATCH) console.log(`\nscratch kept: ${scratch}`);
  else rmSync(scratch, { recursive: true, force: true });
  if (failures.length) {
    console.log(`\n${failures.length} failure(s):`);
    for (const f of failures) console.log(`- ${f.split('\n')[0]}`);
    process.exit(1);
  }
  console.log('\npackage check passed');
  process.exit(0);
}
