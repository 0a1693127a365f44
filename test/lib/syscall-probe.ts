/**
 * Tiny static x86-64 programs that make one system call and exit with its errno (0: the call
 * worked), for testing seccomp filters on arguments inside a container whose image has no C
 * toolchain or libc: a 120-byte ELF header and a few instructions, written out as bytes.
 *
 *   clone:  clone(CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
 *   clone3: clone3(&{flags: CLONE_NEWUSER, exit_signal: SIGCHLD}, 64)
 *
 * A child that is made exits 0 at once (both the parent and the child run the same exit path).
 */

const CLONE_NEWUSER = 0x1000_0000;
const SIGCHLD = 17;

// test rax, rax; jns ok; neg rax; mov edi, eax; jmp exit; ok: xor edi, edi; exit: mov eax, 231 (exit_group); syscall
const EXIT_WITH_ERRNO = [0x48, 0x85, 0xc0, 0x79, 0x07, 0x48, 0xf7, 0xd8, 0x89, 0xc7, 0xeb, 0x02, 0x31, 0xff, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05];

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

/** An ELF executable with one loadable segment (read and execute) holding `code` after the headers. */
function elf(code: number[]): Buffer {
  const base = 0x40_0000;
  const headers = 64 + 56;
  const b = Buffer.alloc(headers + code.length);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // 64-bit
  b[5] = 1; // little endian
  b[6] = 1; // ELF version
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // x86-64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(base + headers), 24); // entry: the first instruction
  b.writeBigUInt64LE(64n, 32); // program headers right after this header
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(56, 54);
  b.writeUInt16LE(1, 56);
  b.writeUInt32LE(1, 64); // PT_LOAD
  b.writeUInt32LE(5, 68); // R + X
  b.writeBigUInt64LE(BigInt(base), 80);
  b.writeBigUInt64LE(BigInt(base), 88);
  b.writeBigUInt64LE(BigInt(b.length), 96);
  b.writeBigUInt64LE(BigInt(b.length), 104);
  b.writeBigUInt64LE(0x1000n, 112);
  Buffer.from(code).copy(b, headers);
  return b;
}

export function syscallProbe(call: 'clone' | 'clone3'): Buffer {
  if (call === 'clone') {
    // mov edi, flags; xor esi, esi; xor edx, edx; xor r10, r10; xor r8, r8; mov eax, 56 (clone); syscall
    const flags = u32(CLONE_NEWUSER | SIGCHLD);
    return elf([0xbf, ...flags, 0x31, 0xf6, 0x31, 0xd2, 0x4d, 0x31, 0xd2, 0x4d, 0x31, 0xc0, 0xb8, 0x38, 0, 0, 0, 0x0f, 0x05, ...EXIT_WITH_ERRNO]);
  }
  // struct clone_args (64 bytes): flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls
  const args = Buffer.alloc(64);
  args.writeBigUInt64LE(BigInt(CLONE_NEWUSER), 0);
  args.writeBigUInt64LE(BigInt(SIGCHLD), 32);
  // lea rdi, [rip + to the struct]; mov esi, 64; mov eax, 435 (clone3); syscall
  const tail = [0xbe, 0x40, 0, 0, 0, 0xb8, 0xb3, 0x01, 0, 0, 0x0f, 0x05, ...EXIT_WITH_ERRNO];
  return elf([0x48, 0x8d, 0x3d, ...u32(tail.length), ...tail, ...args]);
}
