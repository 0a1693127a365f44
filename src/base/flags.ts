/**
 * Command-line flags in the forms Mesos and the dcos CLI use: `--name=value`, `--name value`,
 * `--flag` for booleans, `--no-flag`. Underscores and dashes in names are the same
 * (`--work_dir` = `--work-dir`). Everything after `--` is positional.
 */
export interface ParsedFlags {
  flags: Map<string, string>;
  positionals: string[];
}

export function parseFlags(argv: readonly string[], booleans: ReadonlySet<string> = new Set()): ParsedFlags {
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      const rawName = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const name = rawName.replace(/_/g, '-');
      if (eq >= 0) flags.set(name, a.slice(eq + 1));
      else if (booleans.has(name)) flags.set(name, 'true');
      else if (name.startsWith('no-') && booleans.has(name.slice(3))) flags.set(name.slice(3), 'false');
      else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith('--')) flags.set(name, argv[++i] as string);
      else flags.set(name, 'true');
    } else if (a === '-h') flags.set('help', 'true');
    else positionals.push(a);
  }
  return { flags, positionals };
}

export function flagBool(flags: Map<string, string>, name: string): boolean {
  const v = flags.get(name);
  return v !== undefined && v !== 'false' && v !== '0';
}
