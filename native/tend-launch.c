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
 *      tend puts them back before it starts anything, so services see them unchanged.
 *      tend's own malloc gets MALLOC_TOP_PAD_=0 (the user's value, if any, held the same
 *      way; TEND_LAUNCH_UNSET names the launcher's own variable for tend to remove): glibc
 *      otherwise pads each growth of its heap by 128 KiB and keeps it, ~1.4 MiB of an idle
 *      tend's RSS (issue 20). It is read once, when Node's malloc starts; a mallopt() from
 *      JavaScript comes too late to matter;
 *   4. choose a V8 start-up snapshot for the mode (dist/run.snapshot for `tend run`,
 *      dist/tini.snapshot for `tend -- CMD`; bin/tend-snapshot.cjs says what is in one) when
 *      the stamp beside it says it was built by this very Node binary, with the V8 flag
 *      below, for this place. Node cannot fall back from a snapshot it rejects: another
 *      Node's or another flag's blob ends it with exit code 14 ("Failed to load the startup
 *      snapshot because it was built with a different version of V8 or with different V8
 *      configurations"), a damaged one with a V8 fatal error (SIGTRAP, "Check failed:
 *      VerifyChecksum(blob)"), a truncated one with SIGSEGV. So it is decided here, before
 *      the exec, from three stat()s and one small read; without a snapshot, Node runs
 *      bin/tend.cjs exactly as before, and TEND_LAUNCH_SNAPSHOT tells tend why
 *      (TEND_DEBUG_STARTUP=1 shows it);
 *   5. exec Node on the entry with LD_PRELOAD naming libtend through /proc/self/fd/N (a path
 *      with no space or colon, which LD_PRELOAD would split on, wherever tend is unpacked).
 *      libtend keeps the signals held through Node's start-up and takes them in through a
 *      thread of its own; native/signals.c says how. A snapshot changes nothing there: the
 *      same single exec, the same held signals, the same entry stub as its main function.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TEND_DEV_NODE
#define TEND_DEV_NODE ""
#endif

#define EXIT_INTERNAL 70 /* tend's own failure, as in src/roots/main.ts */
#define HELD_PREFIX "TEND_HELD_"
/* Young generation held at 1 MiB per semi-space: see step 5 in main. */
#define V8_FLAG "--max-semi-space-size=1"
/* glibc's malloc padding, set to 0 for tend's own Node only: see step 3. */
#define TOP_PAD "MALLOC_TOP_PAD_"

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
  return strncmp(entry, "NODE_", 5) == 0 || strncmp(entry, "UV_", 3) == 0 || strncmp(entry, "LD_PRELOAD=", 11) == 0 ||
         strncmp(entry, TOP_PAD "=", sizeof TOP_PAD) == 0;
}

/* Variables of an enclosing launch, never passed on (a tend started by a tend's service). */
static int launch_name(const char *entry) {
  return strncmp(entry, HELD_PREFIX, sizeof HELD_PREFIX - 1) == 0 || strncmp(entry, "TEND_LAUNCH_FD=", 15) == 0 ||
         strncmp(entry, "TEND_SIGNAL_INTAKE=", 19) == 0 || strncmp(entry, "TEND_LAUNCH_SNAPSHOT=", 21) == 0 ||
         strncmp(entry, "TEND_LAUNCH_UNSET=", 18) == 0;
}

/* The snapshot for the mode argv asks for, as src/cli/args.ts reads it: `tend -- CMD` (any
 * `--`, but not `tend exec`) is tini; no subcommand, an option first, or `run` is run. Other
 * modes are short-lived clients: they start without a snapshot. A wrong guess costs speed
 * only: either snapshot holds the dispatcher, which loads any other mode from dist/. */
static const char *snapshot_mode(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "exec") == 0) return NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) return "tini";
  }
  if (argc == 1 || argv[1][0] == '-' || strcmp(argv[1], "run") == 0) return "run";
  return NULL;
}

/* One line of a stamp: what stat() says of `path` (size, mtime in whole seconds: image
 * builds keep a file's mtime when they copy it, but not always below the second), or 0
 * when it cannot. */
static int stamp_line(char *out, size_t size, const char *label, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return 0;
  int n = snprintf(out, size, "%s %jd %jd\n", label, (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec);
  return n > 0 && (size_t)n < size;
}

/*
 * The blob to start Node from, or NULL with *why set. A blob is used only when its stamp
 * (written by scripts/build.mjs right after the blob) is, byte for byte, what this launcher
 * sees now: the Node binary it is about to run and the blob (size and mtime; not device
 * and inode, which a copy into an image layer changes), what made it, the entry stub and
 * the bundles it was made from (likewise), the V8 flag, and tend's directory (a
 * snapshot holds the paths it was built at). A rebuilt or replaced Node, a blob rewritten
 * after its stamp, an edited stub, a moved checkout: each changes a line, and Node runs
 * without the snapshot.
 */
static const char *choose_snapshot(const char *root, const char *node, const char *mode, const char **why) {
  if (getenv("TEND_NO_SNAPSHOT") != NULL && getenv("TEND_NO_SNAPSHOT")[0] != '\0') {
    *why = "TEND_NO_SNAPSHOT is set";
    return NULL;
  }
  if (mode == NULL) {
    *why = "this mode has no snapshot";
    return NULL;
  }
  static char blob[PATH_MAX], stamp_path[PATH_MAX];
  if ((size_t)snprintf(blob, sizeof blob, "%s/dist/%s.snapshot", root, mode) >= sizeof blob ||
      (size_t)snprintf(stamp_path, sizeof stamp_path, "%s.stamp", blob) >= sizeof stamp_path) {
    *why = "path too long";
    return NULL;
  }
  static char expected[PATH_MAX + 512], found[sizeof expected + 1];
  int n = snprintf(expected, sizeof expected, "tend start-up snapshot 2\nflags %s\nat %s\n", V8_FLAG, root);
  if (n <= 0 || (size_t)n >= sizeof expected) {
    *why = "path too long";
    return NULL;
  }
  size_t used = (size_t)n;
  if (!stamp_line(expected + used, sizeof expected - used, "node", node)) {
    *why = "cannot stat the Node runtime";
    return NULL;
  }
  used += strlen(expected + used);
  if (!stamp_line(expected + used, sizeof expected - used, "blob", blob)) {
    *why = "no snapshot made (npm run build or scripts/snapshot.mjs makes it)";
    return NULL;
  }
  used += strlen(expected + used);
  /* What the snapshot was made from: a stub or a bundle rebuilt since would otherwise run
   * as it was (only scripts/build.mjs rebuilds dist/, and it remakes the snapshots). */
  static char made_from[4][PATH_MAX];
  snprintf(made_from[0], sizeof made_from[0], "%s/bin/tend-snapshot.cjs", root);
  snprintf(made_from[1], sizeof made_from[1], "%s/bin/tend.cjs", root);
  snprintf(made_from[2], sizeof made_from[2], "%s/dist/tend.cjs", root);
  snprintf(made_from[3], sizeof made_from[3], "%s/dist/%s.cjs", root, mode);
  for (int i = 0; i < 4; i++) {
    if (!stamp_line(expected + used, sizeof expected - used, "from", made_from[i])) {
      *why = "a file the snapshot was made from is missing";
      return NULL;
    }
    used += strlen(expected + used);
  }
  int fd = open(stamp_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = "the snapshot has no stamp";
    return NULL;
  }
  ssize_t length = read(fd, found, sizeof found);
  close(fd);
  if (length != (ssize_t)used || memcmp(found, expected, used) != 0) {
    *why = "the snapshot's stamp does not match this Node, flag, place, blob or bundles";
    return NULL;
  }
  /* Node ends with exit code 14 on a blob it cannot open (tend run as another user). */
  if (access(blob, R_OK) != 0) {
    *why = "the snapshot is not readable by this user";
    return NULL;
  }
  return blob;
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
  char **env = calloc(count + 6, sizeof *env);
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
  env[out++] = TOP_PAD "=0";
  env[out++] = "TEND_LAUNCH_UNSET=" TOP_PAD;
  static char preload_var[64], launch_var[64];
  if (preload >= 0) {
    snprintf(preload_var, sizeof preload_var, "LD_PRELOAD=/proc/self/fd/%d", preload);
    snprintf(launch_var, sizeof launch_var, "TEND_LAUNCH_FD=%d", preload);
    env[out++] = preload_var;
    env[out++] = launch_var;
  }

  /* 4. The snapshot, or why not. */
  const char *why = NULL;
  const char *snapshot = choose_snapshot(root, node, snapshot_mode(argc, argv), &why);
  static char snapshot_var[256];
  if (snapshot == NULL) {
    snprintf(snapshot_var, sizeof snapshot_var, "TEND_LAUNCH_SNAPSHOT=%s", why);
    env[out++] = snapshot_var;
  }
  env[out] = NULL;

  /* 5. Node, on tend's entry, with the arguments as given (from a snapshot, the entry's path
   *    is still argv[1]: Node treats its first argument after a snapshot's flags as the
   *    main function's, not a script, and keeps what follows as it is — a `--` included). V8's young generation kept at
   *    1 MiB per semi-space: left to grow (up to 16 MiB each), it did after a busy start
   *    or under heavy output and never gave the pages back — 26 MiB of a tend with 1,000
   *    services. A code cache only fits the V8 flags it was made under: bin/tend.cjs sets
   *    the same flag when Node was started without it (TEND_V8_FLAG there). */
  char **args = calloc((size_t)argc + 5, sizeof *args);
  if (args == NULL) die("cannot start", node, ENOMEM);
  int arg = 0;
  args[arg++] = (char *)node;
  args[arg++] = V8_FLAG;
  if (snapshot != NULL) {
    args[arg++] = "--snapshot-blob";
    args[arg++] = (char *)snapshot;
  }
  args[arg++] = (char *)entry;
  for (int i = 1; i < argc; i++) args[arg++] = argv[i];
  execve(node, args, env);
  die("cannot run its Node runtime", node, errno);
}
