/**
 * For tests that run wirecall in child processes: where dist/ is, and a build of it when
 * it is older than the sources (`npm test` builds first; a single test file run by hand
 * may not have); or, for the transport's tests, a quick build of the transport alone.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = path.join(ROOT, 'src');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');
export const DEMO = path.join(ROOT, 'dist/examples/demo.js');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

/** Newest modification time of the sources the build reads (tests excluded). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ unless the CLI and demo there are newer than every source and config. */
export async function buildIfStale(): Promise<void> {
  const outputs = [CLI, DEMO];
  if (outputs.every((f) => existsSync(f))) {
    const built = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
    const inputs = [
      newestSource(path.join(ROOT, 'src')),
      newestSource(path.join(ROOT, 'examples')),
      ...['tsconfig.json', 'tsconfig.build.json', 'package.json'].map((f) => statSync(path.join(ROOT, f)).mtimeMs),
    ];
    if (Math.max(...inputs) < built) return;
  }
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [TSC, '-p', 'tsconfig.build.json'], { cwd: ROOT }, (err, stdout, stderr) => {
      if (err === null) return resolve();
      // Type errors elsewhere in the repo still emit JavaScript; only missing output is fatal.
      if (outputs.every((f) => existsSync(f))) {
        console.warn(`tsc reported errors (continuing with the emitted files):\n${stdout}${stderr}`);
        return resolve();
      }
      reject(new Error(`build failed:\n${stdout}${stderr}`));
    });
  });
}

/**
 * Transpiles src/errors.ts, src/status.ts, src/util/*.ts and src/transport/*.ts (no tests)
 * into `outDir` so a child node process can import the real transport without a full
 * build. Returns the file URL of its index.js.
 */
export function buildTransportForChildren(outDir: string): string {
  const dirs = ['util', 'transport'];
  const files = ['errors.ts', 'status.ts', ...dirs.flatMap((d) => readdirSync(path.join(SRC, d)).map((f) => `${d}/${f}`))].filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  // Loaded here, not at the top: the other users of this file need no compiler.
  const ts = createRequire(import.meta.url)('typescript') as typeof import('typescript');
  for (const d of dirs) mkdirSync(path.join(outDir, d), { recursive: true });
  writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  for (const f of files) {
    const source = readFileSync(path.join(SRC, f), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: f,
    });
    writeFileSync(path.join(outDir, f.replace(/\.ts$/, '.js')), outputText);
  }
  return pathToFileURL(path.join(outDir, 'transport', 'index.js')).href;
}
