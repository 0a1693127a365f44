#!/usr/bin/env node
// Builds the web UI (ui/ → dist/ui/ with vite) and compiles its pure logic with its tests
// (ui/src/logic → dist/ui-logic/, run by node --test). Skips when the outputs are newer than every
// input, so `npm run build` stays fast. `--force` rebuilds anyway.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const force = process.argv.includes('--force');

function newest(paths) {
  let t = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    else t = Math.max(t, st.mtimeMs);
  };
  for (const p of paths) walk(p);
  return t;
}

const inputs = ['ui/src', 'ui/index.html', 'ui/vite.config.ts', 'ui/tsconfig.json', 'ui/tsconfig.logic.json', 'src/model', 'src/base'].map((p) =>
  join(root, p),
);
const stamp = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);
const srcTime = newest(inputs);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const tsc = join(root, 'node_modules/typescript/bin/tsc');
if (force || stamp(join(root, 'dist/ui/index.html')) < srcTime) {
  run(process.execPath, [tsc, '-p', 'ui/tsconfig.json']);
  run(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'ui/vite.config.ts', '--logLevel', 'warn']);
  console.log('build-ui: dist/ui built');
} else console.log('build-ui: dist/ui is up to date');

if (force || stamp(join(root, 'dist/ui-logic/ui/src/logic/cluster.js')) < srcTime) {
  run(process.execPath, [tsc, '-p', 'ui/tsconfig.logic.json']);
  console.log('build-ui: dist/ui-logic compiled');
}
