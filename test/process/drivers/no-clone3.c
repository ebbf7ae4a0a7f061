/*
 * no-clone3 ERRNO COMMAND...: runs COMMAND under a seccomp filter that fails clone3 with
 * ERRNO, as Docker's default profile does (ENOSYS) and stricter ones do (EPERM). Every
 * other system call is allowed. The filter is inherited by everything COMMAND starts.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: no-clone3 ERRNO COMMAND...\n");
    return 2;
  }
  unsigned err = (unsigned)atoi(argv[1]);
#ifdef ARCH
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 435 /* clone3 */, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = { sizeof code / sizeof code[0], code };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) {
    perror("no-clone3: seccomp");
    return 2;
  }
#else
  (void)err;
  fprintf(stderr, "no-clone3: no filter for this architecture\n");
  return 2;
#endif
  execvp(argv[2], argv + 2);
  perror("no-clone3: exec");
  return 127;
}
