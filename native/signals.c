/*
 * tend's signal intake, linked into libtend.so. One path for every signal tend receives,
 * real-time ones included, from the first instruction of the process on.
 *
 * The launcher (native/tend-launch.c) blocks every asynchronous signal, opens libtend.so
 * and execs Node with LD_PRELOAD naming it, so this file runs before Node's main():
 *
 *   1. The hold. A blocked signal stays pending, even for PID 1 (the kernel discards a
 *      signal only when its target has it unblocked with no handler). But Node does not
 *      keep the mask it inherits — measured on Node 20.20 (blocking everything, then exec
 *      node and read /proc/self/task/{tid}/status): node::PlatformInit sets the main thread's
 *      mask to {SIGUSR1}, the threads it starts inherit that, and the inspector then unblocks
 *      SIGUSR1 again behind its own handler; a SIGTERM made pending before exec killed the
 *      process (status 143) before any JavaScript ran. So the mask calls of this process
 *      are interposed: pthread_sigmask and sigprocmask below never unblock a held signal.
 *      Every thread Node starts inherits a mask that holds them, so no thread can ever take
 *      one with a handler — in particular SIGUSR1 can never reach the handler that opens
 *      Node's inspector.
 *   2. The intake. A thread started here, before main(), takes the held signals with
 *      sigwaitinfo (which needs them blocked) and writes one record per signal to a pipe.
 *      tend reads the pipe on its event loop (src/process/signal-intake.ts); until it does, the
 *      pipe keeps what arrived (4,096 records), and past that the kernel keeps them pending.
 *      Nothing is unblocked, ever: signals are only taken by this thread.
 *
 * Processes forked by tend (libuv's fork, before exec) are not held: the interposers pass
 * through when getpid() is not tend's, so libuv and the exec helper can reset the mask of
 * a child to empty before it execs a service. Without the launcher (`node bin/tend.cjs`)
 * none of this is active and tend uses Node's own signal handlers.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "thread.h"

typedef int (*mask_call)(int, const sigset_t *, sigset_t *);

static sigset_t held;        /* what the intake takes; blocked in every thread of tend */
static volatile int holding; /* set once, before main(), when the launcher asked for it */
static pid_t holder;         /* tend's pid: a forked child is not held */
static int intake_write = -1;

/*
 * Everything asynchronous. Left out: SIGKILL and SIGSTOP (cannot be blocked); the
 * synchronous faults (a blocked SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP or SIGSYS raised
 * by a fault kills the process at once, and V8 handles SIGSEGV for WebAssembly bounds
 * checks), SIGABRT (abort()); SIGCHLD, which libuv needs to see child exits; and glibc's
 * own real-time signals 32 and 33, which sigfillset already leaves out.
 */
static void fill_held(sigset_t *set) {
  static const int unheld[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT, SIGCHLD };
  sigfillset(set);
  for (size_t i = 0; i < sizeof unheld / sizeof unheld[0]; i++) sigdelset(set, unheld[i]);
}

static mask_call real_call(const char *name) {
  return (mask_call)dlsym(RTLD_NEXT, name);
}

/* The mask change `how`/`set` asks for, with every held signal kept blocked. */
static const sigset_t *keep_held(int how, const sigset_t *set, sigset_t *storage) {
  if (!holding || set == NULL || how == SIG_BLOCK || getpid() != holder) return set;
  *storage = *set;
  if (how == SIG_SETMASK) {
    sigorset(storage, storage, &held);
  } else {
    for (int sig = 1; sig < NSIG; sig++)
      if (sigismember(&held, sig) == 1) sigdelset(storage, sig);
  }
  return storage;
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
  static mask_call real;
  if (real == NULL) real = real_call("pthread_sigmask");
  if (real == NULL) return ENOSYS;
  sigset_t storage;
  return real(how, keep_held(how, set, &storage), old);
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
  static mask_call real;
  if (real == NULL) real = real_call("sigprocmask");
  if (real == NULL) {
    errno = ENOSYS;
    return -1;
  }
  sigset_t storage;
  return real(how, keep_held(how, set, &storage), old);
}

/* One record per signal, 16 bytes, little-endian int32s: signo, si_code, si_pid, si_uid. */
static void *intake_main(void *unused) {
  (void)unused;
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&held, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    int32_t record[4] = { sig, info.si_code, (int32_t)info.si_pid, (int32_t)info.si_uid };
    size_t done = 0;
    while (done < sizeof record) {
      ssize_t n = write(intake_write, (const char *)record + done, sizeof record - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return NULL; /* tend closed the pipe: it is exiting */
      done += (size_t)n;
    }
  }
}

/* No intake after all: hand the signals back to Node's own handlers (tend's fallback). */
static void release(mask_call real) {
  holding = 0;
  if (real != NULL) real(SIG_UNBLOCK, &held, NULL);
}

/*
 * Runs when the launcher preloads libtend.so (TEND_LAUNCH_FD names the descriptor it was
 * preloaded through). Tells tend where the intake is in TEND_SIGNAL_INTAKE, "FD:RTMIN:RTMAX"
 * (the real-time range differs between C libraries), and removes LD_PRELOAD so that nothing
 * tend starts inherits it.
 */
__attribute__((constructor)) static void tend_signals_init(void) {
  const char *launch = getenv("TEND_LAUNCH_FD");
  if (launch == NULL) return;
  int preload_fd = atoi(launch);
  if (preload_fd > 2) close(preload_fd);
  unsetenv("TEND_LAUNCH_FD");
  unsetenv("LD_PRELOAD");

  fill_held(&held);
  holder = getpid();
  holding = 1;
  /* Already blocked by the launcher; made sure of here (a hand-made LD_PRELOAD). */
  mask_call real = real_call("pthread_sigmask");
  if (real != NULL) real(SIG_BLOCK, &held, NULL);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    release(real);
    return;
  }
  intake_write = fds[1];
  int failed = tend_start_thread("tend-signals", intake_main, NULL);
  if (failed) {
    close(fds[0]);
    close(fds[1]);
    release(real);
    return;
  }
  char value[64];
  snprintf(value, sizeof value, "%d:%d:%d", fds[0], SIGRTMIN, SIGRTMAX);
  setenv("TEND_SIGNAL_INTAKE", value, 1);
}
