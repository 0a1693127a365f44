/**
 * The default seccomp profile of image tasks: everything is allowed except system calls that
 * reach past the container into the host's kernel or other processes (modules, kexec, reboot,
 * keyrings, BPF, perf, tracing, clock setting, swap, new namespaces and mounts). A denied call
 * returns EPERM, so programs see an ordinary permission error. It is a deny list, so new system
 * calls work by default; `--seccomp=unconfined` on the agent (or
 * `container.linux_info.seccomp.unconfined` per task) turns it off.
 *
 * What containers need is kept: clone (threads, fork), personality, and io_uring; mounts are
 * denied only to the task, after the runtime has made the container's own mounts.
 *
 * New namespaces: unshare and setns are denied outright; clone is denied (EPERM) only when its
 * flags ask for a namespace, by masked-equality filters on its first argument, as Docker's default
 * profile does for containers without CAP_SYS_ADMIN. That matters for CLONE_NEWUSER: a user
 * namespace needs no capability, and inside one every other namespace is possible. clone3 takes
 * its flags in a struct that seccomp cannot read, so it answers ENOSYS: libc then falls back to
 * clone (glibc does for threads and fork), where the flags are filtered.
 */

/** System calls the default profile denies with EPERM. */
export const DENIED_SYSCALLS: readonly string[] = [
  // kernel modules and kexec
  'init_module',
  'finit_module',
  'delete_module',
  'create_module',
  'query_module',
  'get_kernel_syms',
  'kexec_load',
  'kexec_file_load',
  // the machine as a whole
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'stime',
  'syslog',
  'iopl',
  'ioperm',
  'vhangup',
  'nfsservctl',
  'uselib',
  '_sysctl',
  'sysfs',
  'lookup_dcookie',
  'quotactl',
  'quotactl_fd',
  // keyrings are not namespaced
  'keyctl',
  'add_key',
  'request_key',
  // BPF, perf, and reading or tracing other processes
  'bpf',
  'perf_event_open',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kcmp',
  'userfaultfd',
  // file handles bypass the mount namespace (the "shocker" escape)
  'open_by_handle_at',
  'name_to_handle_at',
  // new namespaces and mounts from inside the container
  'unshare',
  'setns',
  'mount',
  'umount',
  'umount2',
  'pivot_root',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'mount_setattr',
  // 32-bit legacy
  'vm86',
  'vm86old',
];

/** clone(2) flags that make a new namespace (linux/sched.h). */
export const CLONE_NAMESPACE_FLAGS: Readonly<Record<string, number>> = {
  CLONE_NEWNS: 0x0002_0000,
  CLONE_NEWCGROUP: 0x0200_0000,
  CLONE_NEWUTS: 0x0400_0000,
  CLONE_NEWIPC: 0x0800_0000,
  CLONE_NEWUSER: 0x1000_0000,
  CLONE_NEWPID: 0x2000_0000,
  CLONE_NEWNET: 0x4000_0000,
};

const EPERM = 1;
const ENOSYS = 38;

/** The OCI `linux.seccomp` object of the default profile. */
export function defaultSeccompProfile(arch: string = process.arch): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: arch === 'arm64' ? ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] : ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [
      { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      // One rule per flag (the conditions of one rule are ANDed): (flags & FLAG) == FLAG → EPERM.
      // The flags are clone's first argument on x86-64 and arm64 (the second only on s390).
      ...Object.values(CLONE_NAMESPACE_FLAGS).map((flag) => ({
        names: ['clone'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: EPERM,
        args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
      })),
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}
