// The measured processes of the benchmark suite: one small C program, several roles.
// Each role records its own timestamps (CLOCK_MONOTONIC, the clock of Node's
// process.hrtime) so that what is measured is what the process itself saw, not what a
// poller noticed later. Built on demand by bench/lib/tools.mjs with the system compiler.
//
//   stamp FILE              append "<ns>\n" to FILE and exit 0 (start-up: first instruction)
//   stampcpu FILE           append "<ns> <cpu ns>\n": also the CPU time its parent (the init that
//                           started it) has used so far, all its threads (its process CPU clock)
//   sigterm READY OUT       on SIGTERM write "<ns>\n" to OUT and exit 0; READY is created once armed
//   daemons N DIR           start N double-forked setsid daemons; each writes DIR/term.<i> on SIGTERM;
//                           DIR/ready when all are up; then waits (default SIGTERM action)
//   crash FILE MS           append "S <ns>\n", sleep MS ms, append "E <ns>\n", exit 1
//   storm N OUT             N orphans re-parented to the init, released at once; polls the init's
//                           children until none but itself is left; writes one JSON line to OUT
//   procs N FILE            fork N-1 children that wait, append "<ns>\n" to FILE, wait
//   slowstop MS FILE        append "U <ns>" once armed; wait for SIGTERM; append "T <ns>\n", sleep MS ms, append "E <ns>\n", exit 0
//   gen SIZE FILE           append "S <ns>\n"; write SIZE bytes of 100-byte lines to stdout; append "E <ns>\n"
//   syslog N SOCKET FILE    append "S <ns>\n"; send N syslog datagrams of ~100 bytes (RFC 3164, as glibc's
//                           syslog(3) writes them, numbered from 0) to the Unix socket; append "E <ns>\n"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void append(const char *file, const char *prefix, uint64_t ns) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%s%llu\n", prefix, (unsigned long long)ns);
  int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) _exit(90);
  if (write(fd, buf, (size_t)n) != n) _exit(91);
  close(fd);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void touch(const char *file) {
  int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
}

static void wait_forever(void) {
  for (;;) pause();
}

/* sigterm */
static int sig_out = -1;
static void on_term_stamp(int sig) {
  (void)sig;
  uint64_t ns = now_ns();
  char buf[32];
  int n = 0;
  char tmp[24];
  int k = 0;
  do { tmp[k++] = (char)('0' + ns % 10); ns /= 10; } while (ns > 0);
  while (k > 0) buf[n++] = tmp[--k];
  buf[n++] = '\n';
  if (write(sig_out, buf, (size_t)n) < 0) _exit(92);
  _exit(0);
}

/* daemons */
static char daemon_term_file[4096];
static void on_term_daemon(int sig) {
  (void)sig;
  int fd = open(daemon_term_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) close(fd);
  _exit(0);
}

/* slowstop */
static volatile sig_atomic_t terminated = 0;
static void on_term_flag(int sig) { (void)sig; terminated = 1; }

/* storm */
struct storm_shared {
  _Atomic uint64_t exited;
  _Atomic uint64_t last_exit_ns;
};

static int count_other_children(pid_t self) {
  // Children of the init (PID 1 of this namespace), every thread: zombies included.
  int count = 0;
  DIR *d = opendir("/proc/1/task");
  if (d == NULL) return -1;
  struct dirent *e;
  static char buf[1 << 20];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/1/task/%s/children", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t total = 0, n;
    while ((n = read(fd, buf + total, sizeof buf - 1 - (size_t)total)) > 0) total += n;
    close(fd);
    buf[total] = 0;
    char *p = buf;
    while (*p) {
      char *end;
      long pid = strtol(p, &end, 10);
      if (end == p) break;
      if (pid != self) count++;
      p = end;
      while (*p == ' ' || *p == '\n') p++;
    }
  }
  closedir(d);
  return count;
}

static int storm(long n, const char *out) {
  struct storm_shared *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return 93;
  atomic_store(&shared->exited, 0);
  atomic_store(&shared->last_exit_ns, 0);
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) return 94;
  pid_t self = getpid();
  for (long i = 0; i < n; i++) {
    pid_t mid = fork();
    if (mid < 0) { perror("fork"); return 95; }
    if (mid == 0) {
      if (fork() == 0) {
        close(gate[1]);
        char c;
        while (read(gate[0], &c, 1) < 0 && errno == EINTR) {}
        uint64_t t = now_ns();
        uint64_t prev = atomic_load(&shared->last_exit_ns);
        while (prev < t && !atomic_compare_exchange_weak(&shared->last_exit_ns, &prev, t)) {}
        atomic_fetch_add(&shared->exited, 1);
        _exit(0);
      }
      _exit(0);
    }
    waitpid(mid, NULL, 0);
  }
  close(gate[0]);
  // Every orphan must have been re-parented to the init before the release.
  uint64_t wait_start = now_ns();
  while (count_other_children(self) < n) {
    if (now_ns() - wait_start > 20000000000ull) break;
    sleep_ms(1);
  }
  uint64_t released = now_ns();
  close(gate[1]);
  long polls = 0;
  int left = 0;
  uint64_t zero = 0;
  for (;;) {
    uint64_t exited = atomic_load(&shared->exited);
    left = count_other_children(self);
    polls++;
    if (exited == (uint64_t)n && left == 0) { zero = now_ns(); break; }
    if (now_ns() - released > 60000000000ull) break;
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
  FILE *f = fopen(out, "w");
  if (f == NULL) return 96;
  uint64_t last = atomic_load(&shared->last_exit_ns);
  fprintf(f, "{\"orphans\":%ld,\"exited\":%llu,\"left\":%d,\"polls\":%ld,\"released_ns\":%llu,\"last_exit_ns\":%llu,\"zero_ns\":%llu}\n",
          n, (unsigned long long)atomic_load(&shared->exited), left, polls, (unsigned long long)released,
          (unsigned long long)last, (unsigned long long)zero);
  fclose(f);
  return zero == 0 ? 97 : 0;
}

/* CPU time `pid` has used so far, all its threads, in ns, or 0. A process CPU clock: exact,
 * the running slice included (schedstat is not, when the process runs on another core). */
static uint64_t cpu_ns_of(pid_t pid) {
  clockid_t clock;
  struct timespec ts;
  if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  uint64_t first = now_ns();
  if (argc < 2) { fprintf(stderr, "usage: tools ROLE ...\n"); return 2; }
  const char *role = argv[1];
  if (strcmp(role, "stamp") == 0 && argc == 3) {
    append(argv[2], "", first);
    return 0;
  }
  if (strcmp(role, "stampcpu") == 0 && argc == 3) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%llu ", (unsigned long long)first);
    append(argv[2], prefix, cpu_ns_of(getppid()));
    return 0;
  }
  if (strcmp(role, "sigterm") == 0 && argc == 4) {
    sig_out = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (sig_out < 0) return 90;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term_stamp;
    sigaction(SIGTERM, &sa, NULL);
    touch(argv[2]);
    wait_forever();
  }
  if (strcmp(role, "daemons") == 0 && argc == 4) {
    long n = strtol(argv[2], NULL, 10);
    for (long i = 0; i < n; i++) {
      pid_t mid = fork();
      if (mid == 0) {
        setsid();
        if (fork() == 0) {
          snprintf(daemon_term_file, sizeof daemon_term_file, "%s/term.%ld", argv[3], i);
          struct sigaction sa;
          memset(&sa, 0, sizeof sa);
          sa.sa_handler = on_term_daemon;
          sigaction(SIGTERM, &sa, NULL);
          char up[4096];
          snprintf(up, sizeof up, "%s/up.%ld", argv[3], i);
          touch(up);
          wait_forever();
        }
        _exit(0);
      }
      waitpid(mid, NULL, 0);
    }
    char up[4096];
    for (long i = 0; i < n; i++) {
      snprintf(up, sizeof up, "%s/up.%ld", argv[3], i);
      while (access(up, F_OK) != 0) sleep_ms(1);
    }
    char ready[4096];
    snprintf(ready, sizeof ready, "%s/ready", argv[3]);
    touch(ready);
    wait_forever();
  }
  if (strcmp(role, "crash") == 0 && argc == 4) {
    append(argv[2], "S ", first);
    sleep_ms(strtol(argv[3], NULL, 10));
    append(argv[2], "E ", now_ns());
    return 1;
  }
  if (strcmp(role, "storm") == 0 && argc == 4) {
    return storm(strtol(argv[2], NULL, 10), argv[3]);
  }
  if (strcmp(role, "procs") == 0 && argc == 4) {
    long n = strtol(argv[2], NULL, 10);
    for (long i = 1; i < n; i++) {
      pid_t pid = fork();
      if (pid < 0) { perror("fork"); return 95; }
      if (pid == 0) wait_forever();
    }
    append(argv[3], "", now_ns());
    wait_forever();
  }
  if (strcmp(role, "slowstop") == 0 && argc == 4) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term_flag;
    sigaction(SIGTERM, &sa, NULL);
    append(argv[3], "U ", now_ns());
    while (!terminated) pause();
    append(argv[3], "T ", now_ns());
    sleep_ms(strtol(argv[2], NULL, 10));
    append(argv[3], "E ", now_ns());
    return 0;
  }
  if (strcmp(role, "gen") == 0 && argc == 4) {
    long long size = strtoll(argv[2], NULL, 10);
    append(argv[3], "S ", first);
    static char block[100 * 10486];
    for (int i = 0; i < 10486; i++) {
      char *line = block + i * 100;
      snprintf(line, 10, "%08d ", i);
      memset(line + 9, 'x', 90);
      line[99] = '\n';
    }
    long long left = size;
    while (left > 0) {
      size_t chunk = left < (long long)sizeof block ? (size_t)left : sizeof block;
      size_t off = 0;
      while (off < chunk) {
        ssize_t w = write(1, block + off, chunk - off);
        if (w < 0) { if (errno == EINTR || errno == EAGAIN) continue; perror("write"); return 98; }
        off += (size_t)w;
      }
      left -= (long long)chunk;
    }
    append(argv[3], "E ", now_ns());
    return 0;
  }
  if (strcmp(role, "syslog") == 0 && argc == 5) {
    long n = strtol(argv[2], NULL, 10);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, argv[3], sizeof addr.sun_path - 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("syslog: connect"); return 91; }
    append(argv[4], "S ", now_ns());
    char line[128];
    for (long i = 0; i < n; i++) {
      int len = snprintf(line, sizeof line, "<14>Dec  2 17:00:00 flood[%d]: message %08ld xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", (int)getpid(), i);
      /* A blocking send, as glibc's syslog(3): it waits while the receiver's queue is full. */
      while (send(fd, line, (size_t)len, 0) < 0) {
        if (errno != EINTR) { perror("syslog: send"); return 92; }
      }
    }
    append(argv[4], "E ", now_ns());
    return 0;
  }
  fprintf(stderr, "tools: unknown role or arguments: %s\n", role);
  return 2;
}
