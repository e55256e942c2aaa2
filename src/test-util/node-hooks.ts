/**
 * A fresh node running an inline ES module with a module preloaded by `--import`: the
 * tests that need a real loader see what a user's node sees, e.g. which modules an
 * import resolves, or how the package behaves when an optional peer is not installed.
 */
import { execFile } from 'node:child_process';
import { ROOT } from './build.js';

const dataUrl = (source: string): string => `data:text/javascript,${encodeURIComponent(source)}`;

/** Runs `code` (an ES module) in a new node in the package root, `preload` (module source) imported first. */
export function runModule(code: string, preload?: string, timeout = 20_000): Promise<{ stdout: string; stderr: string }> {
  const args = [...(preload === undefined ? [] : ['--import', dataUrl(preload)]), '--input-type=module', '-e', code];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout }, (err, stdout, stderr) =>
      err !== null ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr }),
    );
  });
}

/** A preload under which `hidden` packages (and their subpaths) cannot be resolved, by import or require: as if not installed. */
export function hidingPackages(hidden: readonly string[]): string {
  const isHidden = `(s) => ${JSON.stringify(hidden)}.some((p) => s === p || s.startsWith(p + '/'))`;
  const esmHooks = `const hidden = ${isHidden};
export async function resolve(specifier, context, next) {
  if (hidden(specifier)) throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}`;
  return `import Module, { register } from 'node:module';
const hidden = ${isHidden};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden(request)) throw Object.assign(new Error('Cannot find module ' + request + '\\nRequire stack:\\n- somewhere'), { code: 'MODULE_NOT_FOUND' });
  return resolve.call(this, request, ...rest);
};
register(${JSON.stringify(dataUrl(esmHooks))});`;
}

/** A resolve hook that writes every URL the loader resolves to stderr, one a line. */
const REPORT_HOOKS = `
import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  writeSync(2, 'resolved ' + resolved.url + '\\n');
  return resolved;
}`;
const REPORTING = `import { register } from 'node:module'; register(${JSON.stringify(dataUrl(REPORT_HOOKS))});`;

/** The URLs the loader resolves while `code` runs in a fresh node in the package root. */
export async function resolvedBy(code: string): Promise<string[]> {
  const prefix = 'resolved ';
  const { stderr } = await runModule(code, REPORTING);
  return stderr.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
}
