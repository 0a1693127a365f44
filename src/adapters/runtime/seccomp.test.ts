import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLONE_NAMESPACE_FLAGS, DENIED_SYSCALLS, defaultSeccompProfile } from './seccomp.js';

interface Rule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo: number; op: string }[];
}

/** What the profile answers for a call with these arguments, as libseccomp evaluates the rules. */
function verdict(rules: Rule[], name: string, args: number[]): string {
  for (const r of rules) {
    if (!r.names.includes(name)) continue;
    if ((r.args ?? []).every((a) => a.op === 'SCMP_CMP_MASKED_EQ' && ((args[a.index] ?? 0) & a.value) === a.valueTwo)) return `errno ${r.errnoRet}`;
  }
  return 'allow';
}

test('the default profile filters clone by its namespace flags (EPERM) and answers clone3 with ENOSYS', () => {
  const p = defaultSeccompProfile('x64') as { defaultAction: string; syscalls: Rule[] };
  assert.equal(p.defaultAction, 'SCMP_ACT_ALLOW');
  const SIGCHLD = 17;
  const CLONE_VM = 0x100;
  const CLONE_THREAD = 0x10000;
  // fork and threads stay allowed.
  assert.equal(verdict(p.syscalls, 'clone', [SIGCHLD]), 'allow');
  assert.equal(verdict(p.syscalls, 'clone', [CLONE_VM | CLONE_THREAD | 0x3d0f00]), 'allow');
  // Any namespace flag, alone or with others, is EPERM.
  const newuser = CLONE_NAMESPACE_FLAGS.CLONE_NEWUSER as number;
  assert.equal(newuser, 0x10000000);
  assert.equal(verdict(p.syscalls, 'clone', [newuser | SIGCHLD]), 'errno 1');
  for (const [name, flag] of Object.entries(CLONE_NAMESPACE_FLAGS)) assert.equal(verdict(p.syscalls, 'clone', [flag | SIGCHLD]), 'errno 1', name);
  assert.equal(verdict(p.syscalls, 'clone3', [0, 88]), 'errno 38');
  assert.equal(verdict(p.syscalls, 'unshare', [newuser]), 'errno 1');
  for (const s of ['kexec_load', 'init_module', 'reboot', 'keyctl', 'bpf', 'ptrace', 'setns']) assert.ok(DENIED_SYSCALLS.includes(s), s);
  for (const s of ['clone', 'clone3', 'execve', 'personality']) assert.ok(!DENIED_SYSCALLS.includes(s), `${s} is not denied outright`);
  // Arguments are plain numbers the runtimes take as uint64.
  assert.match(JSON.stringify(p), /"args":\[\{"index":0,"value":268435456,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"\}\]/);
});
