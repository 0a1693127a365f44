#!/usr/bin/env node
import { GROUPS } from '../cli/commands.js';
import { CliError } from '../cli/output.js';
import { down, up } from './up.js';
import { VERSION } from './version.js';

/**
 * The one program, `dcos`, with roles (master, agent) and the CLI's command groups.
 * Every command has --help; lists and shows have --json; failures print one line and exit non-zero.
 */

const TOP_HELP = `Usage: dcos <command> [args]

An open data-center operating system: one cluster out of many machines.

Cluster lifecycle:
  up                 bring up a local cluster (1 master + N agents) and attach the CLI to it
  down               stop the local cluster (--purge deletes it)
  master             run a master on this machine
  agent              run an agent on this machine
  marathon-server    run Marathon as its own process over the master's scheduler HTTP API
  edgelb             run the edge load balancer (HAProxy driven by Marathon app labels)

Commands:
${Object.entries(GROUPS)
  .map(([g, { summary, commands }]) => `  ${g.padEnd(18)} ${summary} (${Object.keys(commands).join(', ')})`)
  .join('\n')}

Run 'dcos <command> --help' for a command's flags. Version ${VERSION.dcos}.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(TOP_HELP);
    return 0;
  }
  if (cmd === '--version' || cmd === 'version') {
    console.log(`dcos-ts ${VERSION.dcos} (Mesos API ${VERSION.mesos})`);
    return 0;
  }
  if (cmd === 'master') {
    const { runMaster } = await import('./master.js');
    await runMaster(rest);
    return 0;
  }
  if (cmd === 'agent') {
    const { runAgent } = await import('./agent.js');
    await runAgent(rest);
    return 0;
  }
  if (cmd === 'marathon-server') {
    const { runMarathonServer } = await import('./marathon.js');
    await runMarathonServer(rest);
    return 0;
  }
  if (cmd === 'edgelb') {
    const { runEdgeLb } = await import('./edgelb.js');
    await runEdgeLb(rest);
    return 0;
  }
  if (cmd === 'up') return up(rest);
  if (cmd === 'down') return down(rest);
  const group = GROUPS[cmd];
  if (!group) throw new CliError(`Unknown command '${cmd}'.`, "Run 'dcos --help' for the list.");
  const [sub, ...args] = rest;
  const help = () =>
    `Usage: dcos ${cmd} <${Object.keys(group.commands).join('|')}> [args]\n\n${group.summary}.\n\n${Object.entries(group.commands)
      .map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}\n             ${c.usage}`)
      .join('\n')}\n`;
  if (!sub || sub === '--help' || sub === '-h') {
    process.stdout.write(help());
    return sub ? 0 : 1;
  }
  const spec = group.commands[sub];
  if (!spec) throw new CliError(`Unknown command 'dcos ${cmd} ${sub}'.`, `Run 'dcos ${cmd} --help'.`);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`Usage: ${spec.usage}\n\n${spec.summary}.\n`);
    return 0;
  }
  return (await spec.run(args)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CliError) {
      process.stderr.write(`Error: ${err.message}\n${err.hint ? `${err.hint}\n` : ''}`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`Error: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
