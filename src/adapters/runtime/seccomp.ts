/**
 * The default seccomp profile of image tasks: everything is allowed except system calls that
 * reach past the container into the host's kernel or other processes (modules, kexec, reboot,
 * keyrings, BPF, perf, tracing, clock setting, swap, new namespaces and mounts). A denied call
 * returns EPERM, so programs see an ordinary permission error. It is a deny list, so new system
 * calls work by default; `--seccomp=unconfined` on the agent (or
 * `container.linux_info.seccomp.unconfined` per task) turns it off.
 *
 * What containers need is kept: clone (threads, fork), clone3, personality, and io_uring; mounts
 * are denied only to the task, after the runtime has made the container's own mounts.
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

/** The OCI `linux.seccomp` object of the default profile. */
export function defaultSeccompProfile(arch: string = process.arch): Record<string, unknown> {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: arch === 'arm64' ? ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] : ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
}
