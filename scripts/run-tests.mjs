#!/usr/bin/env node
// Runs the compiled tests with node's test runner: unit tests (beside the code, in dist/src) in
// parallel, then the end-to-end tests (dist/test) one file at a time, since they start clusters.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const only = args.filter((a) => !a.startsWith('--'));

function find(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (p.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const match = (f) => only.length === 0 || only.some((o) => f.includes(o));
// Unit tests beside the code, and the web UI's pure logic (compiled by scripts/build-ui.mjs).
const unit = [...find('dist/src'), ...find('dist/ui-logic')].filter(match);
const e2e = unitOnly ? [] : find('dist/test').filter(match);
let failed = 0;
const run = (files, concurrency) => {
  if (files.length === 0) return;
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
};
run(unit, 2);
run(e2e, 1);
process.exit(failed ? 1 : 0);
