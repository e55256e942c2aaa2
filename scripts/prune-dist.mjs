#!/usr/bin/env node
// Removes outputs under dist/src whose TypeScript source is gone (tsc never deletes them),
// so `npm pack` (prepack runs this after the build) cannot ship a module left over from a
// file that was renamed or deleted. Only such orphans are removed: a checkout shared with
// running tests keeps every current file in place.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = path.join(root, 'dist', 'src');
const OUTPUT = /(\.d\.ts|\.js\.map|\.js)$/;

let removed = 0;
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      walk(file);
      if (readdirSync(file).length === 0) rmSync(file, { recursive: true });
      continue;
    }
    const match = OUTPUT.exec(entry.name);
    if (!match) continue;
    const rel = path.relative(out, file).slice(0, -match[1].length);
    if (!existsSync(path.join(root, 'src', `${rel}.ts`))) {
      rmSync(file);
      removed++;
    }
  }
}
if (existsSync(out)) walk(out);
if (removed > 0) console.error(`prune-dist: removed ${removed} file(s) under dist/src with no source in src/`);
