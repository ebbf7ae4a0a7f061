/*
 * tend-launch: the executable users run as `tend` (bin/tend). It exists so that no signal
 * is lost, and the inspector cannot open, in the 20-40 ms Node spends on its own bootstrap
 * before tend's first line of JavaScript: as PID 1 the kernel discards a signal that has
 * no handler (a `docker stop` then waits out its grace and ends in SIGKILL), and a SIGUSR1
 * in that window made Node open its inspector on 127.0.0.1:9229.
 *
 * Like tini's main, a script:
 *   1. block every asynchronous signal: blocked, a signal stays pending, even for PID 1;
 *   2. find itself (/proc/self/exe, symlinks resolved), and beside it tend's entry
 *      (bin/tend.cjs), libtend (native/build/libtend.so) and the Node runtime
 *      (runtime/node in the package; in a checkout, the Node that built the launcher);
 *   3. hold Node's and libuv's own variables (NODE_OPTIONS and every other NODE_* and UV_*,
 *      except NODE_EXTRA_CA_CERTS) away from the Node that runs tend, as TEND_HELD_<NAME>:
 *      a NODE_OPTIONS=--inspect or --require from the target must not reach tend itself.
 *      tend puts them back before it starts anything, so services see them unchanged;
 *   4. exec Node on the entry with LD_PRELOAD naming libtend through /proc/self/fd/N (a path
 *      with no space or colon, which LD_PRELOAD would split on, wherever tend is unpacked).
 *      libtend keeps the signals held through Node's start-up and takes them in through a
 *      thread of its own; native/signals.c says how.
 * No shell, no allocation that matters, one exec: it costs well under a millisecond.
 *
 * Compiled twice (native/build.mjs): for a checkout, with TEND_DEV_NODE, the path of the
 * Node that built it; for the package (scripts/package.mjs), with TEND_PACKAGED, which only
 * ever runs runtime/node beside it — never a Node found on the target.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TEND_DEV_NODE
#define TEND_DEV_NODE ""
#endif

#define EXIT_INTERNAL 70 /* tend's own failure, as in src/roots/main.ts */
#define HELD_PREFIX "TEND_HELD_"

extern char **environ;

static void die(const char *what, const char *path, int err) {
  fprintf(stderr, "tend: %s %s: %s\n", what, path, strerror(err));
  exit(EXIT_INTERNAL);
}

/* dir + "/" + name, or exit: paths are bounded by PATH_MAX. */
static char *join(const char *dir, const char *name) {
  static char storage[4][PATH_MAX];
  static int next;
  char *out = storage[next++ & 3];
  if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) die("path too long:", dir, ENAMETOOLONG);
  return out;
}

/* Cuts the last component off `path` in place ("/a/b/c" → "/a/b"). */
static void up(char *path) {
  char *slash = strrchr(path, '/');
  if (slash == NULL) die("cannot find its own directory from", path, ENOENT);
  *slash = '\0';
  if (path[0] == '\0') strcpy(path, "/");
}

/* Variables Node or libuv read at start-up, held away from tend's own runtime. */
static int held_name(const char *entry) {
  if (strncmp(entry, "NODE_EXTRA_CA_CERTS=", 20) == 0) return 0; /* TLS trust: tend's https probes */
  return strncmp(entry, "NODE_", 5) == 0 || strncmp(entry, "UV_", 3) == 0 || strncmp(entry, "LD_PRELOAD=", 11) == 0;
}

/* Variables of an enclosing launch, never passed on (a tend started by a tend's service). */
static int launch_name(const char *entry) {
  return strncmp(entry, HELD_PREFIX, sizeof HELD_PREFIX - 1) == 0 || strncmp(entry, "TEND_LAUNCH_FD=", 15) == 0 ||
         strncmp(entry, "TEND_SIGNAL_INTAKE=", 19) == 0;
}

#ifndef TEND_PACKAGED
/* A checkout: the Node that built the launcher, else the first `node` on PATH. */
static const char *dev_node(void) {
  if (TEND_DEV_NODE[0] != '\0' && access(TEND_DEV_NODE, X_OK) == 0) return TEND_DEV_NODE;
  const char *path = getenv("PATH");
  static char found[PATH_MAX];
  while (path != NULL && *path != '\0') {
    const char *end = strchrnul(path, ':');
    int n = snprintf(found, sizeof found, "%.*s/node", (int)(end - path), path);
    if (n > 0 && (size_t)n < sizeof found && access(found, X_OK) == 0) return found;
    path = *end == ':' ? end + 1 : end;
  }
  die("cannot find", "node (not built beside a Node, and none on PATH)", ENOENT);
  return NULL;
}
#endif

int main(int argc, char **argv) {
  (void)argc;
  /* 1. Everything but the synchronous faults, which must stay deliverable (a blocked fault
   *    signal kills at once) and which nobody sends to an init on purpose. */
  sigset_t block;
  sigfillset(&block);
  static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&block, faults[i]);
  sigprocmask(SIG_BLOCK, &block, NULL);

  /* 2. Where tend is: the kernel's answer, with every symlink on the way resolved. */
  static char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    if (argv[0] == NULL || strchr(argv[0], '/') == NULL || realpath(argv[0], self) == NULL)
      die("cannot find its own path (is /proc mounted?):", argv[0] ? argv[0] : "tend", errno ? errno : ENOENT);
  } else {
    self[n] = '\0';
  }
  char bin[PATH_MAX], root[PATH_MAX];
  strcpy(bin, self);
  up(bin);
  strcpy(root, bin);
  up(root);
  const char *entry = join(bin, "tend.cjs");
#ifdef TEND_PACKAGED
  const char *node = join(root, "runtime/node");
#else
  const char *node = dev_node();
#endif
  /* Node opens /dev/null on a closed 0, 1 or 2 when it starts; done here, before anything
   * else takes those numbers: the descriptor libtend is preloaded through, or the intake's
   * pipe, would otherwise become tend's stdin or stdout. */
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
      die("cannot open", "/dev/null for a closed standard descriptor", errno);
  }
  int preload = open(join(root, "native/build/libtend.so"), O_RDONLY);

  /* 3. The environment Node gets. */
  size_t count = 0;
  while (environ[count] != NULL) count++;
  char **env = calloc(count + 3, sizeof *env);
  if (env == NULL) die("cannot start", node, ENOMEM);
  size_t out = 0;
  for (size_t i = 0; i < count; i++) {
    char *entry_i = environ[i];
    if (launch_name(entry_i)) continue;
    if (held_name(entry_i)) {
      size_t length = strlen(entry_i) + sizeof HELD_PREFIX;
      char *held = malloc(length);
      if (held == NULL) die("cannot start", node, ENOMEM);
      snprintf(held, length, HELD_PREFIX "%s", entry_i);
      env[out++] = held;
      continue;
    }
    env[out++] = entry_i;
  }
  static char preload_var[64], launch_var[64];
  if (preload >= 0) {
    snprintf(preload_var, sizeof preload_var, "LD_PRELOAD=/proc/self/fd/%d", preload);
    snprintf(launch_var, sizeof launch_var, "TEND_LAUNCH_FD=%d", preload);
    env[out++] = preload_var;
    env[out++] = launch_var;
  }
  env[out] = NULL;

  /* 4. Node, on tend's entry, with the arguments as given. V8's young generation kept at
   *    1 MiB per semi-space: left to grow (up to 16 MiB each), it did after a busy start
   *    or under heavy output and never gave the pages back — 26 MiB of a tend with 1,000
   *    services. A code cache only fits the V8 flags it was made under: bin/tend.cjs sets
   *    the same flag when Node was started without it (TEND_V8_FLAG there). */
  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (args == NULL) die("cannot start", node, ENOMEM);
  args[0] = (char *)node;
  args[1] = "--max-semi-space-size=1";
  args[2] = (char *)entry;
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  execve(node, args, env);
  die("cannot run its Node runtime", node, errno);
}
