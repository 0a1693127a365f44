#!/usr/bin/env node
// Holds the layering of DESIGN.md: imports point down only, and the pure layers (base, model,
// core) touch neither node:* nor ambient time or randomness. Services and the simulator may use
// node:* only through ports, and never read the clock or Math.random directly.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const src = join(root, 'src');
const allowed = {
  base: ['base'],
  model: ['base', 'model'],
  core: ['base', 'model', 'core'],
  ports: ['base', 'model', 'ports'],
  services: ['base', 'model', 'core', 'ports', 'services'],
  adapters: ['base', 'model', 'core', 'ports', 'adapters'],
  api: ['base', 'model', 'core', 'ports', 'services', 'api'],
  cli: ['base', 'model', 'core', 'cli'],
  sim: ['base', 'model', 'core', 'ports', 'services', 'adapters', 'sim'],
  main: ['base', 'model', 'core', 'ports', 'services', 'adapters', 'api', 'cli', 'main', 'sim'],
  ui: ['base', 'model', 'ui'],
};
const pure = new Set(['base', 'model', 'core']);
const noAmbientTime = new Set(['base', 'model', 'core', 'services', 'sim']);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const problems = [];
for (const file of walk(src)) {
  const rel = relative(src, file);
  const layer = rel.split('/')[0];
  // Tests and their fakes may reach across layers to set up real edges.
  const isTest = file.endsWith('.test.ts') || /\/(fakes|testing)\.ts$/.test(file);
  const rules = allowed[layer];
  if (!rules) {
    problems.push(`${rel}: folder '${layer}' is not a known layer (add it to scripts/check-layers.mjs and DESIGN.md)`);
    continue;
  }
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
    const spec = m[1];
    if (spec.startsWith('node:')) {
      if (pure.has(layer) && !isTest) problems.push(`${rel}: the ${layer} layer must not import ${spec}`);
      continue;
    }
    if (!spec.startsWith('.')) continue;
    const target = relative(src, resolve(dirname(file), spec));
    if (target.startsWith('..')) continue;
    const tl = target.split('/')[0];
    if (!rules.includes(tl) && !isTest) problems.push(`${rel}: ${layer} may not import from ${tl} (${spec})`);
  }
  if (noAmbientTime.has(layer) && !isTest) {
    const code = text.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const bad of ['Date.now', 'Math.random', 'setTimeout', 'setInterval', 'setImmediate', 'new Date']) {
      // A call not through an object (clock.setInterval is fine) and not a method declaration.
      const re = new RegExp(`(?<![.\\w])${bad.replace('.', '\\.')}\\(`, 'g');
      for (const line of code.split('\n')) {
        if (re.test(line) && !/^\s*\w+\(\w+\s*:/.test(line)) problems.push(`${rel}: ${layer} must not call ${bad} (inject a Clock or Random)`);
        re.lastIndex = 0;
      }
    }
  }
}
if (problems.length) {
  console.error(`Layer check failed (${problems.length}):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('layer check: ok');
