/**
 * @grpc/grpc-js is an optional peer dependency loaded on first use (grpc-js.ts): without it,
 * `import 'wirecall/plugin-grpc'` works and serveGrpcPlugin()/launchGrpcPlugin() throw
 * GrpcPluginUnavailable saying what to install, before anything is bound or started; with
 * protobufjs missing too, one error names both. Run in a real node (dist/) where neither
 * require() nor import can resolve the hidden packages, as if they were not installed.
 * And the shipped .d.ts seen by TypeScript without them.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildIfStale } from '../test-util/build.js';
import { hidingPackages, runModule } from '../test-util/node-hooks.js';

/** Imports the adapter, then calls launchGrpcPlugin and serveGrpcPlugin; one line per step on stdout. */
const SCRIPT = `const m = await import(${JSON.stringify(`${ROOT}dist/src/plugin-grpc/index.js`)});
console.log('imported', typeof m.serveGrpcPlugin, typeof m.launchGrpcPlugin);
console.log('grpc-js', await import('@grpc/grpc-js').then(() => 'importable', (e) => e.code));
const report = (e) => console.log(JSON.stringify({ unavailable: e instanceof m.GrpcPluginUnavailable, code: e.code, message: e.message, cause: e.cause?.constructor.name, causes: e.cause?.errors?.length }));
await m.launchGrpcPlugin('/nonexistent/never-started').then(() => console.log('launched'), report);
const handshake = { magicCookieKey: 'TEST_COOKIE', magicCookieValue: 'x' };
// No grpc-js, so no grpc.Server: it must not get as far as looking at it.
await m.serveGrpcPlugin({}, { handshake, env: { TEST_COOKIE: 'x' } }).then(() => console.log('served'), report);`;

async function runWithout(hidden: readonly string[]): Promise<string[]> {
  return (await runModule(SCRIPT, hidingPackages(hidden), 15_000)).stdout.trim().split('\n');
}

describe('without @grpc/grpc-js', () => {
  beforeAll(buildIfStale, 120_000);

  it('the subpath imports; serveGrpcPlugin and launchGrpcPlugin throw GrpcPluginUnavailable saying what to install, before starting anything', async () => {
    const [imported, probe, ...errors] = await runWithout(['@grpc/grpc-js']);
    expect(imported).toBe('imported function function');
    expect(probe).toBe('grpc-js ERR_MODULE_NOT_FOUND'); // the hiding works for import too
    expect(errors).toHaveLength(2);
    for (const line of errors) {
      expect(JSON.parse(line!)).toEqual({
        unavailable: true,
        code: 'ERR_PLUGIN_GRPC_UNAVAILABLE',
        // Node's "Require stack:" lines are left out of the message (they stay in `cause`).
        message: 'wirecall/plugin-grpc needs the optional peer dependency @grpc/grpc-js: npm install @grpc/grpc-js (Cannot find module @grpc/grpc-js)',
        cause: 'Error',
      });
    }
  });

  it('without protobufjs either, one GrpcPluginUnavailable names both', async () => {
    const [imported, , ...errors] = await runWithout(['@grpc/grpc-js', 'protobufjs']);
    expect(imported).toBe('imported function function');
    expect(errors).toHaveLength(2);
    for (const line of errors) {
      expect(JSON.parse(line!)).toEqual({
        unavailable: true,
        code: 'ERR_PLUGIN_GRPC_UNAVAILABLE',
        message:
          'wirecall/plugin-grpc needs the optional peer dependencies @grpc/grpc-js and protobufjs: npm install @grpc/grpc-js protobufjs (Cannot find module @grpc/grpc-js; Cannot find module protobufjs/light.js)',
        cause: 'AggregateError',
        causes: 2,
      });
    }
  });

  it('no module of the adapter imports grpc-js at run time: only its types (import type), grpc-js.ts requires it', () => {
    const dir = path.join(ROOT, 'src/plugin-grpc');
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.ts') || name.endsWith('.test.ts')) continue;
      const text = readFileSync(path.join(dir, name), 'utf8');
      const imports = [...text.matchAll(/^(import|export)(\s+type)?[^;]*?from '(@grpc\/[^']+)'/gms)];
      for (const m of imports) expect(m[2], `${name}: ${m[0]}`).toBeDefined();
      expect(name === 'grpc-js.ts' || !text.includes("('@grpc/"), name).toBe(true);
    }
  });
});

describe('the shipped .d.ts without @grpc/grpc-js and protobufjs', () => {
  beforeAll(buildIfStale, 120_000);

  /** Type-checks a user's file importing wirecall/plugin-grpc (dist/) where the two cannot be resolved; the diagnostics, as `file: TSnnnn`. */
  function check(skipLibCheck: boolean): string[] {
    const dir = mkdtempSync(path.join(tmpdir(), 'wirecall-dts-'));
    try {
      const user = path.join(dir, 'user.ts');
      const index = JSON.stringify(path.join(ROOT, 'dist/src/plugin-grpc/index.js'));
      writeFileSync(
        user,
        `import { GrpcPluginUnavailable, HealthService, launchGrpcPlugin, serveGrpcPlugin, ServingStatus } from ${index};
export async function run(): Promise<void> {
  try {
    const plugin = await launchGrpcPlugin('plugin', [], { channelOptions: {} });
    await plugin.kill();
  } catch (err) {
    if (err instanceof GrpcPluginUnavailable) console.log(err.code, HealthService.check.path, ServingStatus.SERVING, typeof serveGrpcPlugin);
  }
}
`,
      );
      const options: ts.CompilerOptions = {
        strict: true,
        noEmit: true,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        types: ['node'],
        typeRoots: [path.join(ROOT, 'node_modules/@types')],
        skipLibCheck,
      };
      const host = ts.createCompilerHost(options);
      const hidden = (name: string): boolean => name.startsWith('@grpc/') || name === 'protobufjs' || name.startsWith('protobufjs/');
      host.resolveModuleNameLiterals = (literals, containingFile, redirected, opts, containingSourceFile) =>
        literals.map((literal) =>
          hidden(literal.text)
            ? { resolvedModule: undefined }
            : ts.resolveModuleName(literal.text, containingFile, opts, host, undefined, redirected, ts.getModeForUsageLocation(containingSourceFile, literal, opts)),
        );
      const program = ts.createProgram([user], options, host);
      return ts
        .getPreEmitDiagnostics(program)
        .map((d) => `${d.file === undefined ? '?' : path.relative(ROOT, d.file.fileName)}: TS${d.code}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('skipLibCheck (the default of tsc --init): no errors, the grpc-js types are any', () => {
    expect(check(true)).toEqual([]);
  }, 60_000);

  it('without skipLibCheck: only the two declarations that cannot do without grpc-js fail to resolve it; the file of the user is fine', () => {
    expect(check(false).sort()).toEqual(['dist/src/plugin-grpc/launch.d.ts: TS2307', 'dist/src/plugin-grpc/serve.d.ts: TS2307']);
  }, 60_000);
});
