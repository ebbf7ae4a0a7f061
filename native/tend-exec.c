/*
 * tend-exec: the steps between fork and exec that make a process a service.
 *
 * src/process/spawn.ts writes every start as this helper's command line, with the
 * service's stdio on fds 0-2, a report pipe on fd 3 and, when asked for, a readiness pipe
 * on fd 4 (listening sockets on 5..). libtend reads that command line and, for most
 * starts, does the steps below itself, in its clone child, with raw system calls, and
 * execs the command directly — one exec per start instead of two (each exec of a glibc
 * program costs ~0.5 ms of CPU where cpuid traps to a hypervisor; see native/libtend.c,
 * "One exec per start"). The helper is exec'd for what needs libc or should not hold
 * tend's thread: a user or group (-u, -g, -H: NSS lookups, initgroups), a runtime
 * directory (-R), a cgroup join (-c, -j), an argument libtend does not understand (the
 * helper's usage report), or TEND_SPAWN_DIRECT=0. Both paths do the same steps in the
 * same order and report the same way; a change here is a change there.
 *
 * The helper execs the service in place, so its pid becomes the service's pid.
 * Before exec it does, in this order:
 *
 *   0. close every other inherited fd (marked close-on-exec: a library of tend's that
 *      opened one without O_CLOEXEC must not hand it to a service);
 *   1. join the service's cgroup v2 leaf (-c: write "0" to <leaf>/cgroup.procs) while
 *      still privileged, so that everything the service forks — even at once — is inside
 *      it; likewise its cgroup v1 leaves (memory, cpu, pids) where limits go through v1.
 *      libtend passes -c only when it could not start the helper in the leaf already
 *      (clone3 with CLONE_INTO_CGROUP, refused by old kernels and Docker's seccomp
 *      profile): moving a running task waits for an RCU grace period, ~10–20 ms;
 *   1b. its rlimits (nofile, core: soft and hard, so the service cannot raise them back)
 *      and its oom_score_adj, while still privileged (raising a hard limit or lowering
 *      oom_score_adj needs CAP_SYS_RESOURCE);
 *   2. look the user and group up; make the runtime directory (-R: systemd's
 *      RuntimeDirectory=, mode 0755, owned by them) while still root; then initgroups +
 *      setgid + setuid (the user's supplementary groups, as login, su and gosu give them;
 *      a setgroups(0, NULL) would drop them);
 *   3. the session (a service: its own, detached from any terminal) or process group (tini
 *      mode: its own in tend's session) that libtend's spawn made, + tcsetpgrp (the
 *      terminal's foreground group when stdin is a terminal, as tini does);
 *   4. move the readiness pipe onto the fd the service asked for (s6 notification-fd);
 *   5. chdir (after setuid, so the directory is checked with the service's permissions);
 *   6. reset every signal disposition to default and unblock the mask;
 *   6a. the service's umask (-m), so that nothing of the helper's own work is affected;
 *   6b. set each variable named by -P to the helper's own pid, the service's pid
 *      (WATCHDOG_PID, LISTEN_PID: only the process itself knows it before exec), and move
 *      the -L listening sockets tend passed on fds 5, 6, ... to fds 3, 4, ...;
 *   7. execvp.
 *
 * A failure at any step is reported on fd 3, a close-on-exec pipe tend reads: a line
 * "<step> <errno> <detail>". A successful exec closes the pipe with nothing written. The
 * helper then exits 127 when the command does not exist and 126 otherwise, so exit codes
 * stay exact and tend can say precisely what went wrong.
 *
 * Usage: tend-exec [-c LEAF] [-j LEAF]... [-N NOFILE] [-C CORE] [-O ADJ] [-u USER] [-g GROUP] [-H]
 *                  [-s | -f] [-n FD] [-d DIR] [-m MASK] [-R DIR] -- ARGV...
 *   -c LEAF   cgroup v2 directory to join        -j LEAF   another (v1) cgroup to join, repeatable
 *   -N NOFILE RLIMIT_NOFILE                      -C CORE   RLIMIT_CORE in bytes, or "unlimited"
 *   -O ADJ    oom_score_adj, -1000..1000
 *   -u USER   name or uid
 *   -g GROUP  name or gid                        -H        set HOME/USER/LOGNAME if unset
 *   -s        setsid                             -f        own process group, tty foreground
 *   -n FD     move the pipe on fd 4 to FD        -d DIR    working directory
 *   -P NAME   set variable NAME to the service's pid, repeatable
 *   -m MASK   umask, octal                       -R DIR    make DIR (and its parents), owned by the service's user
 *   -L N      N listening sockets on fds 5.. become fds 3.. (socket activation)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "exec-args.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define ERROR_FD 3  /* the report pipe as tend hands it over */
#define NOTIFY_FD 4 /* the readiness pipe as tend hands it over */
#define LISTEN_FIRST 5 /* socket activation: where tend hands the listening sockets over */
#define HIGH_FD 100 /* where both are parked so they cannot collide with the target fd */

static int report_fd = -1;

/* Reports a failed step and exits. The report is a single write() of a short line, so it
 * is atomic on a pipe; a failed write changes nothing (tend then sees only the code). */
static void fail(const char *step, int err, const char *detail) {
  char line[PATH_MAX + 128];
  int n = snprintf(line, sizeof line, "%s %d %s\n", step, err, detail ? detail : "");
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  int fd = report_fd >= 0 ? report_fd : STDERR_FILENO;
  ssize_t ignored = write(fd, line, (size_t)n);
  (void)ignored;
  _exit(strcmp(step, "exec") == 0 && err == ENOENT ? 127 : 126); /* not found: 127 */
}

/* Moves fd to a close-on-exec descriptor >= HIGH_FD; returns it, or -1 if fd is not open. */
static int park(int fd) {
  int high = fcntl(fd, F_DUPFD_CLOEXEC, HIGH_FD);
  if (high < 0) return -1;
  close(fd);
  return high;
}

/* Whether a file named `name` exists in a directory of PATH this process can see into. */
static int in_path(const char *name) {
  const char *path = getenv("PATH");
  if (path == NULL || *path == '\0') path = "/bin:/usr/bin";
  char candidate[PATH_MAX];
  while (*path != '\0') {
    const char *end = strchr(path, ':');
    size_t length = end == NULL ? strlen(path) : (size_t)(end - path);
    int n = length == 0 ? snprintf(candidate, sizeof candidate, "%s", name)
                        : snprintf(candidate, sizeof candidate, "%.*s/%s", (int)length, path, name);
    if (n > 0 && (size_t)n < sizeof candidate && access(candidate, F_OK) == 0) return 1;
    if (end == NULL) break;
    path = end + 1;
  }
  return 0;
}

#define MAX_JOIN 8

/* Writing "0" to a cgroup's cgroup.procs moves the writer itself (v1 and v2 alike). */
static void join_cgroup(const char *leaf) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/cgroup.procs", leaf) >= sizeof path) fail("cgroup", ENAMETOOLONG, leaf);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("cgroup", errno, leaf);
  if (write(fd, "0", 1) != 1) fail("cgroup", errno, leaf);
  close(fd);
}

/* The runtime directory: its parents as tend's umask makes them (root's, under /run), the
 * directory itself 0755 and owned by the service's user and group — also when it was left
 * behind by an earlier run. Opened with O_NOFOLLOW so a symlink planted in its place is
 * refused (ELOOP) rather than followed to a file someone else chose. */
static void make_runtime_dir(const char *dir, uid_t uid, gid_t gid) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path) fail("runtime_directory", ENAMETOOLONG, dir);
  for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("runtime_directory", errno, dir);
    *slash = '/';
  }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("runtime_directory", errno, dir);
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail("runtime_directory", errno, dir);
  if (fchown(fd, uid, gid) != 0) fail("runtime_directory", errno, dir);
  if (fchmod(fd, 0755) != 0) fail("runtime_directory", errno, dir);
  close(fd);
}

int main(int argc, char **argv) {
  const char *leaf = NULL, *user = NULL, *group = NULL, *dir = NULL, *runtime_dir = NULL;
  long mask = -1;
  const char *joins[MAX_JOIN];
  int join_count = 0;
  const char *pid_vars[MAX_JOIN];
  int pid_var_count = 0;
  unsigned long listen_count = 0;
  const char *nofile = NULL, *core = NULL, *oom_adj = NULL;
  int user_env = 0, session = 0 /* 's' or 'f' */, notify_target = -1;
  int i = 1;

  /* Park the report pipe first so every later failure can be reported. */
  report_fd = park(ERROR_FD);

  for (; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) { i++; break; }
    if (arg[0] != '-' || arg[1] == '\0' || arg[2] != '\0') fail("usage", EINVAL, arg);
    char flag = arg[1];
    if (flag == 'H') { user_env = 1; continue; }
    if (flag == 's' || flag == 'f') { session = flag; continue; }
    if (i + 1 >= argc) fail("usage", EINVAL, arg);
    const char *value = argv[++i];
    switch (flag) {
      case 'c': leaf = value; break;
      case 'j':
        if (join_count >= MAX_JOIN) fail("usage", E2BIG, value);
        joins[join_count++] = value;
        break;
      case 'N': nofile = value; break;
      case 'C': core = value; break;
      case 'O': {
        char *end;
        errno = 0;
        long adj = strtol(value, &end, 10);
        if (errno != 0 || *value == '\0' || *end != '\0' || adj < -1000 || adj > 1000) fail("usage", EINVAL, value);
        oom_adj = value;
        break;
      }
      case 'u': user = value; break;
      case 'g': group = value; break;
      case 'd': dir = value; break;
      case 'R':
        if (value[0] != '/') fail("usage", EINVAL, value);
        runtime_dir = value;
        break;
      case 'm': {
        char *end;
        errno = 0;
        mask = strtol(value, &end, 8);
        if (errno != 0 || *value == '\0' || *end != '\0' || mask < 0 || mask > 0777) fail("usage", EINVAL, value);
        break;
      }
      case 'L':
        if (!exec_arg_id(value, &listen_count) || listen_count > 32) fail("usage", EINVAL, value);
        break;
      case 'P':
        if (pid_var_count >= MAX_JOIN || value[0] == '\0' || strchr(value, '=') != NULL) fail("usage", EINVAL, value);
        pid_vars[pid_var_count++] = value;
        break;
      case 'n': {
        unsigned long fd;
        if (!exec_arg_id(value, &fd) || fd > 1024) fail("usage", EINVAL, value);
        notify_target = (int)fd;
        break;
      }
      default: fail("usage", EINVAL, arg);
    }
  }
  if (i >= argc) fail("usage", EINVAL, "no command after --");
  char **command = argv + i;

  int notify_fd = notify_target >= 0 ? park(NOTIFY_FD) : -1;
  if (notify_target >= 0 && notify_fd < 0) fail("notify", errno, "readiness pipe missing");

  /* 0. Nothing but stdio and the pipes tend meant to pass survives exec. close_range
   * (Linux 5.11) marks the rest close-on-exec in one call; on older kernels, one fcntl per
   * possible fd up to the soft limit. The parked pipes are close-on-exec already. */
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; fd++) {
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
  }

  /* 1. The cgroup: writing "0" moves the writer itself. Done first, while still root. */
  if (leaf != NULL) join_cgroup(leaf);
  for (int j = 0; j < join_count; j++) join_cgroup(joins[j]);

  /* 1b. rlimits and oom_score_adj, before the identity drops the privilege to set them. */
  if (nofile != NULL || core != NULL) {
    const char *values[2] = { nofile, core };
    const int resources[2] = { RLIMIT_NOFILE, RLIMIT_CORE };
    const char *steps[2] = { "nofile", "core" };
    for (int r = 0; r < 2; r++) {
      if (values[r] == NULL) continue;
      uint64_t limit; /* soft = hard: the service cannot raise it back */
      if (!exec_arg_limit(values[r], &limit)) fail("usage", EINVAL, values[r]);
      struct rlimit rl = { (rlim_t)limit, (rlim_t)limit };
      if (setrlimit(resources[r], &rl) != 0) fail(steps[r], errno, values[r]);
    }
  }
  if (oom_adj != NULL) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("oom_score_adj", errno, oom_adj);
    size_t len = strlen(oom_adj);
    if (write(fd, oom_adj, len) != (ssize_t)len) fail("oom_score_adj", errno, oom_adj);
    close(fd);
  }

  /* 2. Identity. Look everything up before dropping privileges. */
  uid_t uid = (uid_t)-1;
  gid_t gid = getgid();
  if (user != NULL || group != NULL) {
    const char *name = NULL, *home = "/";
    struct passwd *pw = NULL;
    unsigned long number;

    if (user != NULL) {
      errno = 0;
      if (exec_arg_id(user, &number)) {
        uid = (uid_t)number;
        pw = getpwuid(uid); /* a numeric uid with no passwd entry is allowed */
      } else {
        pw = getpwnam(user);
        if (pw == NULL) fail("user", errno ? errno : ENOENT, user);
        uid = pw->pw_uid;
      }
      if (pw != NULL) {
        gid = pw->pw_gid;
        name = pw->pw_name;
        home = pw->pw_dir;
      }
    }
    if (group != NULL) {
      if (exec_arg_id(group, &number)) {
        gid = (gid_t)number;
      } else {
        errno = 0;
        struct group *gr = getgrnam(group);
        if (gr == NULL) fail("group", errno ? errno : ENOENT, group);
        gid = gr->gr_gid;
      }
    }
    if (user_env) {
      /* tend removed the inherited values unless the service's env sets them. */
      setenv("HOME", home, 0);
      if (name != NULL) {
        setenv("USER", name, 0);
        setenv("LOGNAME", name, 0);
      }
    }
    if (runtime_dir != NULL) make_runtime_dir(runtime_dir, uid != (uid_t)-1 ? uid : getuid(), gid);
    /* Supplementary groups: the user's, as login, su and gosu give them (initgroups reads
     * /etc/group through NSS); only the primary group when the uid has no passwd entry. */
    if (name != NULL) {
      if (initgroups(name, gid) != 0) fail("initgroups", errno, name);
    } else {
      if (setgroups(1, &gid) != 0) fail("setgroups", errno, group ? group : user);
    }
    /* setgid before setuid: once the uid is dropped, changing the gid is not allowed. */
    if (setgid(gid) != 0) fail("setgid", errno, group ? group : user);
    if (uid != (uid_t)-1 && setuid(uid) != 0) fail("setuid", errno, user);
  } else if (runtime_dir != NULL) {
    make_runtime_dir(runtime_dir, getuid(), gid);
  }

  /* 3. Session and process group. libtend's spawn made them already (so a signal to
   * the group can never miss it while this helper starts); these calls only make sure, for
   * a helper started some other way. */
  if (session == 's') {
    /* Its own session: no controlling terminal, and its own process group, so a signal to
     * the group reaches the service and not tend. EPERM: already a group (and session)
     * leader, which is what was asked. */
    if (setsid() < 0 && errno != EPERM) fail("setsid", errno, NULL);
  } else if (session == 'f') {
    if (getpgrp() != getpid() && setpgid(0, 0) != 0) fail("setpgid", errno, NULL);
    /* Hand the terminal's foreground to the new group, as tini does. A background group
     * calling tcsetpgrp gets SIGTTOU, which stops it: ignore SIGTTOU around the call (the
     * dispositions are reset below anyway). ENOTTY: stdin is no terminal — nothing to do.
     * ENXIO / EPERM: a terminal that is not ours (not tend's controlling tty) — likewise. */
    if (isatty(STDIN_FILENO)) {
      signal(SIGTTOU, SIG_IGN);
      if (tcsetpgrp(STDIN_FILENO, getpgrp()) != 0 && errno != ENOTTY && errno != ENXIO && errno != EPERM)
        fail("tcsetpgrp", errno, NULL);
    }
  }

  /* 4. The readiness pipe on the fd the service expects; dup2 clears close-on-exec. */
  if (notify_fd >= 0) {
    if (dup2(notify_fd, notify_target) < 0) fail("notify", errno, NULL);
    close(notify_fd);
  }

  /* 5. Working directory, checked with the service's own permissions. */
  if (dir != NULL && chdir(dir) != 0) fail("chdir", errno, dir);

  /* 6. Default dispositions and an empty mask: a service must not inherit tend's (libtend's
   * spawn reset them for the helper, but steps above changed SIGTTOU). EINVAL for
   * SIGKILL, SIGSTOP and glibc's reserved real-time signals is expected. */
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  /* 6a. The service's umask; without -m it keeps tend's. */
  if (mask >= 0) umask((mode_t)mask);

  /* 6b. The service's own pid, for the variables that name it (systemd's WATCHDOG_PID). */
  if (pid_var_count > 0) {
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    for (int v = 0; v < pid_var_count; v++)
      if (setenv(pid_vars[v], pid, 1) != 0) fail("setenv", errno, pid_vars[v]);
  }

  /* Socket activation: fds 5.. to 3.., in ascending order — each target is below every
   * source still to come, so none is overwritten before it is moved. dup2 clears
   * close-on-exec on the targets; the sources left above them close at exec. */
  for (unsigned long s = 0; s < listen_count; s++)
    if (dup2((int)(LISTEN_FIRST + s), (int)(3 + s)) < 0) fail("listen", errno, NULL);

  /* 7. exec; the report pipe is close-on-exec, so success shows as an empty read. */
  execvp(command[0], command);
  int err = errno;
  /* execvp answers EACCES when a PATH directory could not be searched (/root/bin for a
   * service running as nobody) even if the command is in none of them: that is "not
   * found" (127), as a shell says, unless a file of that name is there and cannot run. */
  if (err == EACCES && strchr(command[0], '/') == NULL && !in_path(command[0])) err = ENOENT;
  fail("exec", err, command[0]);
  return 127;
}
