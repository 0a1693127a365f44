#!/usr/bin/env node
/**
 * The deterministic simulator's command line.
 *
 *   node dist/src/sim/cli.js --seed 42 --agents 1000 --frameworks 5 --minutes 30 --faults all
 *
 * Options:
 *   --seed N            seed of the run (default 1); a failing run replays exactly from it
 *   --seeds A..B        run a range of seeds one after another (stops at the first failure)
 *   --agents N          simulated agents (default 50)
 *   --agent-mode M      real: the agent service over SimRuntime (default); sim: the light
 *                       protocol-level SimAgent (what the scale benchmarks use)
 *   --frameworks N      test schedulers (default 2)
 *   --minutes N         simulated minutes (default 5)
 *   --faults LIST       all | none | comma list of: agent-crash, agent-reboot, partition, drop,
 *                       delay, duplicate, reorder, master-crash, framework-disconnect,
 *                       framework-failover, container-crash, container-oom, marathon-crash
 *                       (default none)
 *   --marathon-apps N   apps the real Marathon runs in the cluster (0: no Marathon; default 3
 *                       when the faults include marathon-crash, as `all` does, else 0)
 *   --marathon-instances N  declared instances per Marathon app (default 3)
 *   --quiet-minutes N   faults stop this long before the end (default: a third of the run, 4..10)
 *   --tasks N           declared service tasks per framework (default 2 x agents / frameworks)
 *   --batch-rate R      batch tasks per second per framework while faults are on (default 0.5)
 *   --step-ms N         virtual time per step; invariants are checked after each (default 100)
 *   --bug NAME          inject a bug to see the checker fail: agent-reorder-updates,
 *                       agent-forget-failure, checker-broken-capacity, store-lose-task-writes,
 *                       runtime-forget-oom, marathon-miss-terminal-updates
 *   --verbose-from-step N  print every trace event from step N on
 *   --stop-at-step N    stop after step N (with --verbose-from-step: look at a failure)
 *   --no-trace          do not record the trace (faster; no digest)
 *   --json              print the result as JSON
 *
 * Exit status 0 when every invariant held and the system converged, 1 on a violation, 2 on bad usage.
 */
import { performance } from 'node:perf_hooks';
import { INJECTABLE_BUGS, type InjectableBug, runSimulation, type SimOptions, type SimResult } from './cluster.js';
import { parseFaults } from './faults.js';

interface Parsed {
  options: Partial<SimOptions>;
  seeds: number[];
  json: boolean;
  argv: string[];
}

function usage(message: string): never {
  console.error(`sim: ${message}`);
  console.error('usage: node dist/src/sim/cli.js --seed 42 --agents 1000 --frameworks 5 --minutes 30 --faults all');
  process.exit(2);
}

function parseArgs(argv: string[]): Parsed {
  const options: Partial<SimOptions> = {};
  let seeds: number[] = [1];
  let json = false;
  const kept: string[] = [];
  const num = (name: string, v: string | undefined, min = 0): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) usage(`${name} needs a number >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const take = (): string | undefined => {
      i++;
      kept.push(a, v ?? '');
      return v;
    };
    switch (a) {
      case '--seed':
        seeds = [Math.floor(num(a, take()))];
        kept.pop();
        kept.pop();
        break;
      case '--seeds': {
        const m = /^(\d+)\.\.(\d+)$/.exec(v ?? '');
        if (!m) usage('--seeds needs A..B');
        i++;
        seeds = [];
        for (let s = Number(m[1]); s <= Number(m[2]); s++) seeds.push(s);
        break;
      }
      case '--agents':
        options.agents = Math.floor(num(a, take(), 1));
        break;
      case '--agent-mode': {
        const m = take();
        if (m !== 'real' && m !== 'sim') usage('--agent-mode must be real or sim');
        options.agentMode = m;
        break;
      }
      case '--frameworks':
        options.frameworks = Math.floor(num(a, take(), 0));
        break;
      case '--minutes':
        options.minutes = num(a, take(), 0.1);
        break;
      case '--quiet-minutes':
        options.quietMs = num(a, take(), 0) * 60_000;
        break;
      case '--marathon-apps':
        options.marathonApps = Math.floor(num(a, take(), 0));
        break;
      case '--marathon-instances':
        options.marathonInstances = Math.floor(num(a, take(), 1));
        break;
      case '--tasks':
        options.tasksPerFramework = Math.floor(num(a, take(), 1));
        break;
      case '--batch-rate':
        options.batchPerSecond = num(a, take(), 0);
        break;
      case '--step-ms':
        options.stepMs = num(a, take(), 1);
        break;
      case '--faults': {
        const f = parseFaults(take() ?? '');
        if (typeof f === 'string') usage(f);
        options.faults = f;
        break;
      }
      case '--bug': {
        const b = take();
        if (!(INJECTABLE_BUGS as readonly string[]).includes(b ?? '')) usage(`--bug must be one of ${INJECTABLE_BUGS.join(', ')}`);
        options.bug = b as InjectableBug;
        break;
      }
      case '--verbose-from-step':
        i++;
        options.verboseFromStep = Math.floor(num(a, v, 1));
        break;
      case '--stop-at-step':
        i++;
        options.stopAtStep = Math.floor(num(a, v, 1));
        break;
      case '--no-trace':
        options.trace = false;
        kept.push(a);
        break;
      case '--json':
        json = true;
        break;
      default:
        usage(`unknown option '${a}'`);
    }
  }
  return { options, seeds, json, argv: kept };
}

function replayCommand(seed: number, argv: string[], step: number | undefined): string {
  const from = step !== undefined ? ` --verbose-from-step ${Math.max(1, step - 20)} --stop-at-step ${step}` : '';
  return `node dist/src/sim/cli.js --seed ${seed} ${argv.join(' ')}${from}`.replace(/\s+/g, ' ').trim();
}

function report(r: SimResult, argv: string[], log: (s: string) => void): void {
  const virtualS = r.virtualMs / 1000;
  const wallS = r.wallMs / 1000;
  log(
    `seed ${r.seed}: ${r.ok ? 'OK' : 'FAILED'} after ${r.steps} steps, ${virtualS.toFixed(0)} s simulated in ${wallS.toFixed(2)} s wall (${(virtualS / Math.max(wallS, 1e-3)).toFixed(0)}x real time), ${r.events} events`,
  );
  const faults = Object.entries(r.faults)
    .sort()
    .map(([k, n]) => `${k}=${n}`)
    .join(' ');
  log(`  faults: ${faults || 'none'}`);
  log(
    `  ${Object.entries(r.stats)
      .map(([k, n]) => `${k}=${n}`)
      .join(' ')}`,
  );
  if (r.convergedAfterMs !== undefined) log(`  converged ${(r.convergedAfterMs / 1000).toFixed(1)} s after faults stopped`);
  if (!r.ok) {
    log(`  FAILURE at step ${r.failedStep} (seed ${r.seed}):`);
    for (const v of r.violations.slice(0, 10)) log(`    [${v.invariant}] ${v.message}`);
    log('  last events:');
    for (const l of r.tail.slice(-25)) log(`    ${l}`);
    log(`  replay: ${replayCommand(r.seed, argv, r.failedStep)}`);
  }
  log(`  trace digest ${r.digest} (${r.traceLines} events)`);
}

async function main(): Promise<void> {
  const p = parseArgs(process.argv.slice(2));
  let failed = false;
  for (const seed of p.seeds) {
    const r = await runSimulation({ ...p.options, seed, log: (l) => console.log(l) }, () => performance.now());
    if (p.json) console.log(JSON.stringify({ ...r, tail: r.ok ? [] : r.tail }));
    else report(r, p.argv, (l) => console.log(l));
    if (!r.ok) {
      failed = true;
      break;
    }
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
