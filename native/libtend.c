/*
 * libtend: the native half of tend's process layer. It owns three kernel resources that
 * must have exactly one owner in a PID 1:
 *
 *   - starting processes: tend_spawn, a clone(CLONE_VM) — no copy of Node's page
 *     tables —, clone3 straight into the service's cgroup leaf where it has one and the
 *     kernel allows it. The child does the exec helper's steps itself and execs the
 *     service's command (one exec per start) unless a step needs libc (a user or group:
 *     NSS) or would hold tend's thread (a cgroup join); then it execs the helper
 *     (native/tend-exec.c), through glibc's posix_spawn where clone3 cannot be used.
 *     tend does not wait for the child's exec (no CLONE_VFORK): only for its session,
 *     which exists when tend_spawn returns. Until its exec the child runs beside tend on
 *     a slot of its own (a stack, its strings and prepared steps), which the kernel hands
 *     back through CLONE_CHILD_CLEARTID (see spawn_slot); it reports a failure on the
 *     report pipe as the helper does. A short scheduler slice and tend's CPU across the
 *     clone let the child make its session at once on a busy machine (see "The
 *     scheduler hint"). TEND_SPAWN_WAIT=1 keeps CLONE_VFORK, to compare;
 *   - waiting for them: one reaper thread is the only caller of waitid/waitpid in tend.
 *     It sleeps in the kernel until a child ends, reaps it at once — orphans in a storm
 *     never wait for JavaScript — and queues the exit of every process tend started for
 *     the event loop, which it wakes through a pipe;
 *   - signalling the processes tend started: tend_signal_child checks, under the lock
 *     the reaper takes to reap, that the pid is still tend's unreaped child, so a signal
 *     can never reach a process that reused the pid of one that already ended.
 *
 * And the loop that must run at C speed: listing /proc (tend_proc_list).
 *
 * Every function is called from the event loop's thread through ffi-rs, and none blocks
 * (tend_spawn waits for a new child's first system call, and for a slot when
 * TEND_SPAWN_INFLIGHT children, 32, have not exec'd yet).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "exec-args.h"
#include "thread.h"

/* ---------------------------------------------------------------------------------- */
/* The table of tend's children whose exit the event loop has not been told yet.       */

#define TABLE_MIN 1024 /* slots; a power of two, grown at 50 % load */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_reaper = PTHREAD_COND_INITIALIZER;
static int32_t *table;       /* open addressing; 0 empty, -1 deleted */
static size_t table_size, table_used, table_live;

static size_t slot_of(int32_t pid) { return ((uint32_t)pid * 2654435761u) & (table_size - 1); }

static int table_find(int32_t pid) {
    if (table_size == 0) return -1;
    for (size_t i = slot_of(pid), n = 0; n < table_size; i = (i + 1) & (table_size - 1), n++) {
        if (table[i] == pid) return (int)i;
        if (table[i] == 0) return -1;
    }
    return -1;
}

static int table_insert(int32_t pid);

static int table_grow(void) {
    size_t old_size = table_size;
    int32_t *old = table;
    size_t size = old_size == 0 ? TABLE_MIN : old_size * 2;
    int32_t *fresh = calloc(size, sizeof *fresh);
    if (fresh == NULL) return -1;
    table = fresh;
    table_size = size;
    table_used = table_live = 0;
    for (size_t i = 0; i < old_size; i++)
        if (old[i] > 0) table_insert(old[i]);
    free(old);
    return 0;
}

static int table_insert(int32_t pid) {
    if ((table_used + 1) * 2 > table_size && table_grow() != 0) return -1;
    size_t i = slot_of(pid);
    while (table[i] > 0) i = (i + 1) & (table_size - 1);
    if (table[i] == 0) table_used++;
    table[i] = pid;
    table_live++;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Exits waiting for the event loop, and orphans reaped since it last looked.          */

typedef struct { int32_t pid, status; } exit_record;

static exit_record *exits;      /* tend's children: never dropped, the queue grows */
static size_t exits_len, exits_cap;
#define ORPHAN_RING 4096        /* orphans: the newest pids, for the tracker's tables */
static int32_t orphan_ring[ORPHAN_RING];
static size_t orphan_ring_len;
static uint64_t orphans_total, orphans_unseen;
/* The newest orphans' exits, never drained: a forking service's daemon may end before
 * the event loop has read its pid file and adopted it (tend_reaper_adopt looks here). */
#define RECENT_ORPHANS 1024
static exit_record recent_orphans[RECENT_ORPHANS];
static size_t recent_orphans_len;

static int wake_write = -1;    /* the pipe that wakes the event loop */
static int reaper_parked;       /* the thread waits for a child to exist */
static uint64_t child_news;     /* bumped when a child may have appeared: spawn, SIGCHLD */
static int reaper_running;

static void wake_loop(void) {
    /* Non-blocking: a full pipe already holds a wake-up the loop has yet to read. */
    ssize_t ignored = write(wake_write, "", 1);
    (void)ignored;
}

/* Room for one more exit, made before reaping so that a status is never reaped and lost. */
static int exits_room(void) {
    if (exits_len < exits_cap) return 1;
    size_t cap = exits_cap == 0 ? 256 : exits_cap * 2;
    exit_record *grown = realloc(exits, cap * sizeof *exits);
    if (grown == NULL) return 0;
    exits = grown;
    exits_cap = cap;
    return 1;
}

static void record_exit(int32_t pid, int32_t status) {
    int slot = table_find(pid);
    if (slot >= 0) {
        table[slot] = -1;
        table_live--;
        exits[exits_len++] = (exit_record){pid, status};
    } else {
        orphans_total++;
        orphans_unseen++;
        orphan_ring[orphan_ring_len % ORPHAN_RING] = pid;
        orphan_ring_len++;
        recent_orphans[recent_orphans_len % RECENT_ORPHANS] = (exit_record){pid, status};
        recent_orphans_len++;
    }
}

/*
 * The reaper thread. It peeks with WNOWAIT, outside the lock, so it can sleep in the
 * kernel; then it reaps that pid under the lock, so a signal sent through
 * tend_signal_child either reaches the still-unreaped process or is refused. A storm of
 * orphans is reaped here at the speed of waitid, with one wake-up of the event loop for
 * however many of them end before it reads the pipe.
 */
static void *reaper_main(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&lock);
        uint64_t news = child_news;
        pthread_mutex_unlock(&lock);
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) != 0) {
            if (errno == EINTR) continue;
            /* ECHILD: no child at all. One appears when tend spawns or when a process that
             * joined the namespace from outside (docker exec) leaves an orphan: its SIGCHLD
             * reaches the event loop, which calls tend_reaper_kick. Either bumps child_news;
             * news that came after waitid looked must not be slept through. */
            pthread_mutex_lock(&lock);
            while (child_news == news) {
                reaper_parked = 1;
                pthread_cond_wait(&wake_reaper, &lock);
            }
            reaper_parked = 0;
            pthread_mutex_unlock(&lock);
            continue;
        }
        pthread_mutex_lock(&lock);
        /* Out of memory: leave the zombie (it holds its status) and look again shortly. */
        if (!exits_room()) {
            pthread_mutex_unlock(&lock);
            usleep(10000);
            continue;
        }
        int status = 0;
        pid_t pid;
        do pid = waitpid(info.si_pid, &status, WNOHANG);
        while (pid < 0 && errno == EINTR);
        int woke = 0;
        if (pid > 0) {
            record_exit(pid, status);
            woke = 1;
        }
        pthread_mutex_unlock(&lock);
        if (woke) wake_loop();
    }
    return NULL;
}

/* Starts the reaper once; returns the fd the event loop reads to learn of exits, or -errno. */
int tend_reaper_start(void) {
    static int read_end = -1;
    pthread_mutex_lock(&lock);
    if (reaper_running) {
        pthread_mutex_unlock(&lock);
        return read_end;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        int err = errno;
        pthread_mutex_unlock(&lock);
        return -err;
    }
    int err = tend_start_thread("tend-reaper", reaper_main, NULL);
    if (err != 0) {
        close(fds[0]);
        close(fds[1]);
        pthread_mutex_unlock(&lock);
        return -err;
    }
    read_end = fds[0];
    wake_write = fds[1];
    reaper_running = 1;
    pthread_mutex_unlock(&lock);
    return read_end;
}

/* A SIGCHLD came: if the reaper sleeps for want of children, one exists now. */
void tend_reaper_kick(void) {
    pthread_mutex_lock(&lock);
    child_news++;
    if (reaper_parked) pthread_cond_signal(&wake_reaper);
    pthread_mutex_unlock(&lock);
}

/*
 * Hands the event loop what the reaper found: up to `max` exits of tend's children as
 * (pid, raw wait status) pairs into `out`, then as many of the orphans' pids as fit in
 * `orphans` (room for `max_orphans`). counts[0] = exits written, counts[1] = orphans
 * reaped since the last call (may exceed what fit: the oldest were dropped from the
 * ring), counts[2] = exits still queued (call again). Returns counts[0].
 */
int tend_reaper_drain(int32_t *out, int max, int32_t *orphans, int max_orphans, int32_t *counts) {
    pthread_mutex_lock(&lock);
    size_t n = exits_len < (size_t)max ? exits_len : (size_t)max;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = exits[i].pid;
        out[2 * i + 1] = exits[i].status;
    }
    memmove(exits, exits + n, (exits_len - n) * sizeof *exits);
    exits_len -= n;
    size_t ring = orphan_ring_len < ORPHAN_RING ? orphan_ring_len : ORPHAN_RING;
    size_t give = ring < (size_t)max_orphans ? ring : (size_t)max_orphans;
    for (size_t i = 0; i < give; i++) orphans[i] = orphan_ring[(orphan_ring_len - give + i) % ORPHAN_RING];
    counts[0] = (int32_t)n;
    counts[1] = (int32_t)(orphans_unseen > INT32_MAX ? INT32_MAX : orphans_unseen);
    counts[2] = (int32_t)exits_len;
    orphans_unseen = 0;
    orphan_ring_len = 0;
    pthread_mutex_unlock(&lock);
    return (int)n;
}

/* Orphans reaped since the reaper started (tend_zombies_reaped_total). */
double tend_reaper_orphans_total(void) {
    pthread_mutex_lock(&lock);
    double total = (double)orphans_total;
    pthread_mutex_unlock(&lock);
    return total;
}

/*
 * Adopts `pid`, a process tend did not start but that is its child now (a forking
 * service's daemon, re-parented to tend when its start program exited): from now on its
 * exit is queued like the exit of a process tend started, with its status, instead of
 * being counted as an orphan's. Under the lock the reaper takes to reap, so the daemon
 * cannot be reaped between the check and the adoption.
 * Returns 0 (adopted: its exit will come through tend_reaper_drain), 1 (it was already
 * reaped as an orphan: *status holds its raw wait status), -ECHILD (not tend's child:
 * its parent is alive, or no such process), or another -errno.
 */
int tend_reaper_adopt(int32_t pid, int32_t *status) {
    if (pid <= 0) return -EINVAL;
    pthread_mutex_lock(&lock);
    int result;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    /* WNOWAIT: only the reaper thread reaps; this looks without changing anything. */
    if (table_find(pid) >= 0) {
        result = 0;
    } else if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if ((table_used + 1) * 2 > table_size && table_grow() != 0) result = -ENOMEM;
        else {
            table_insert(pid);
            result = 0;
        }
    } else {
        result = -errno;
        if (result == -ECHILD) {
            /* Newest first: a pid reused by a later orphan must not give an older status. */
            size_t kept = recent_orphans_len < RECENT_ORPHANS ? recent_orphans_len : RECENT_ORPHANS;
            for (size_t i = 0; i < kept; i++) {
                exit_record *record = &recent_orphans[(recent_orphans_len - 1 - i) % RECENT_ORPHANS];
                if (record->pid == pid) {
                    *status = record->status;
                    record->pid = 0; /* told once */
                    result = 1;
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* Spawning.                                                                            */

/*
 * Starts the exec helper, or — where none of the helper's steps needs more than system
 * calls — does those steps in the child itself and execs the service's command directly
 * (one exec per start instead of two: see "One exec per start" below). `flags`:
 * TEND_SPAWN_SESSION, TEND_SPAWN_GROUP or 0 (tend's group), plus TEND_SPAWN_STEPS when
 * argv is the exec helper's, and TEND_SPAWN_DIRECT when its steps may be done in the
 * child (else the helper is exec'd, as TEND_SPAWN_DIRECT=0 asks: for comparisons). `strings` holds, each
 * ending in a NUL byte, the program's path, then `argc` arguments, then `envc`
 * environment entries (one buffer: ffi-rs copies a buffer in one go, and string arrays
 * would need their own terminating NULL). fds[i] becomes the child's fd i for i < nfds
 * (-1: fd i closed). Everything else tend has open is close-on-exec, and the exec helper
 * (or the direct child) marks whatever a library leaked close-on-exec too. `leaf` (""
 * for none) is the service's cgroup v2 leaf: the child is born in it (clone3 with
 * CLONE_INTO_CGROUP), or, where that cannot be done, the helper is told to join it
 * (`-c LEAF` after argv[0]) before it execs. The pid enters the table before the reaper
 * can look at it, so its exit is never mistaken for an orphan's.
 * Returns the pid, or -errno when nothing was started.
 */
#define TEND_SPAWN_SESSION 1 /* the child leads a new session (and its process group) */
#define TEND_SPAWN_GROUP 2   /* the child leads a new process group in tend's session */
#define TEND_SPAWN_STEPS 8   /* argv is the exec helper's (counted in tend_spawn_stats) */
#define TEND_SPAWN_DIRECT 16 /* ... and its steps may be done in the child */
#define MAX_FDS 64

/* The child's fds as sources to move: see plan_fds. */
typedef struct {
    int nfds;
    int source[MAX_FDS], copied[MAX_FDS];
} fd_plan;

typedef struct direct_args direct_args;
typedef struct spawn_slot spawn_slot;
static int plan_fds(const int32_t *fds, int nfds, fd_plan *plan);
static void release_fds(fd_plan *plan);
static int spawn_posix(const char *path, char *const argv[], char *const envp[], const fd_plan *plan, int group, pid_t *pid);
static int spawn_into_cgroup(const char *path, char *const argv[], char *const envp[], const fd_plan *plan, int group, int cgroup_fd, spawn_slot *slot, int async, pid_t *pid);
static direct_args *direct_prepare(char **argv, int argc, char **envp, int envc, const int32_t *fds, int nfds, int group);
static void direct_close(direct_args *d);
static void direct_free(direct_args *d);
static int spawn_direct(direct_args *d, spawn_slot *slot, int async, int cgroup_fd, pid_t *pid);
static spawn_slot *slot_take(void);
static void slot_keep(spawn_slot *slot, direct_args *direct);
static void slot_keep_strings(spawn_slot *slot, char *strings, char **vector);
static int slot_buffers(spawn_slot *slot, size_t bytes, size_t pointers, char **strings, char ***vector);
static void slot_wait_session(spawn_slot *slot);
static void slot_hint(spawn_slot *slot, int hinted);
static void slot_pin(spawn_slot *slot);
static void slots_reclaim(void);
static int slots_in_flight(void);

/*
 * Whether clone3 can start a child in its cgroup: 1 until it is refused in a way that
 * every later spawn would meet too (ENOSYS: a kernel before 5.3 or a seccomp profile that
 * hides clone3 — Docker's default one does; EINVAL/E2BIG: a kernel before 5.7 that does
 * not know CLONE_INTO_CGROUP; EPERM/EACCES/EBUSY/EOPNOTSUPP/EBADF...: leaves it may not
 * or cannot start a process in). Then every spawn takes the posix_spawn path, and the
 * helper joins the leaf as it always did. Written and read under the lock.
 */
static int clone3_usable = 1;
static int clone3_refusal;            /* the errno that turned it off */
static uint64_t spawns_born_in_leaf;  /* children clone3 started in their leaf */
static uint64_t spawns_joined_leaf;   /* children with a leaf started by posix_spawn (+ -c) */
static uint64_t clone3_failures;      /* clone3 calls that started nothing */
/* The direct path (one exec): clone3 into the leaf, or clone where there is no leaf. Off
 * for good if the kernel ever refuses that clone (a seccomp profile stricter than Docker's). */
static int direct_usable = 1;
static uint64_t spawns_direct;        /* helper argvs done in the child: one exec */
static uint64_t spawns_helper;        /* helper argvs that exec'd the helper */
/* The clone children in flight (spawn_slot, below): the event loop's thread only. */
#define SPAWN_SLOTS_MAX 256
static int spawn_slots_made;
static int spawn_slots_cap = 32;    /* tend_spawn_configure: TEND_SPAWN_INFLIGHT */
static int spawn_wait;              /* tend_spawn_configure: TEND_SPAWN_WAIT=1 keeps CLONE_VFORK */
static uint64_t spawn_slot_seq;
static uint64_t slots_reclaimed;    /* slots taken back once their child was past its exec */
static uint64_t slot_waits;         /* spawns that waited for a slot (all were in flight) */
static uint64_t spawns_unwaited;    /* clone children tend did not wait for to exec */
static uint64_t session_wait_ns;    /* tend's time waiting for children to make their session */

/* A refused clone3 into a leaf (into_cgroup), or clone of the direct path: off for good
 * unless the refusal passes (see clone3_usable). */
static void clone3_refused(long result, int into_cgroup) {
    if (into_cgroup) clone3_failures++;
    /* Unless it is a passing shortage (EAGAIN: also the leaf's pids.max, which a join may
     * exceed and a fork into it may not) or this leaf was removed meanwhile (ENODEV),
     * clone3 will not do, here, for any spawn. */
    if (-result == EAGAIN || -result == ENOMEM || (into_cgroup && -result == ENODEV)) return;
    if (into_cgroup) {
        clone3_usable = 0;
        clone3_refusal = (int)-result;
    }
    if (!into_cgroup) direct_usable = 0;
}

/*
 * The scheduler hint. tend waits for a new child's session (slot_wait_session), and on a
 * busy machine that wait is the child's wait for a CPU: a new task of the default slice
 * runs when EEVDF's deadline order says, behind the tasks already running (measured: a
 * start of 1,000 beside 4 busy loops spent 13 s there). A short custom slice
 * (sched_attr.sched_runtime, Linux 6.12; no privilege: it changes no share of the CPU,
 * only how soon and for how long at a time) gives an earlier deadline, and a task with a
 * shorter slice may preempt on wake-up. So tend's thread takes a short slice across the
 * clone and the wait: the child inherits it (it runs its session step at once) and tend,
 * woken by it, gets its CPU back at once; tend restores its own right after, and the
 * child restores tend's before its exec (the service runs with tend's attributes, as
 * before). Unused where sched_setattr is refused or tend runs under another policy.
 */
struct sched_attr_v1 {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};
#define SPAWN_SLICE_NS 100000 /* the kernel's least slice: 0.1 ms */
static int sched_hint = -1;    /* -1 unknown, 0 not usable, 1 usable; TEND_SPAWN_HINT=0 turns it off */
static struct sched_attr_v1 sched_own, sched_short;

static cpu_set_t affinity_own;  /* tend's thread's, while it is pinned for a spawn */
static int affinity_pinned, affinity_cpu;
static int sched_pin = 1;      /* TEND_SPAWN_HINT=1: the slice only */

/* Pins tend's thread (and so the child it clones) to the CPU it runs on: the child then
 * waits behind no task of another CPU's queue, and runs as soon as tend sleeps. */
static void sched_pin_begin(void) {
    affinity_pinned = 0;
    if (!sched_pin || sched_getaffinity(0, sizeof affinity_own, &affinity_own) != 0 || CPU_COUNT(&affinity_own) < 2) return;
    int cpu = sched_getcpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    affinity_pinned = sched_setaffinity(0, sizeof one, &one) == 0;
    affinity_cpu = cpu;
}

/* Read at each spawn: tend's nice value may have been changed meanwhile (renice). */
static int sched_hint_begin(void) {
    if (sched_hint == 0) return 0;
    memset(&sched_own, 0, sizeof sched_own);
    /* Only the default policy without reset-on-fork. sched_runtime reads as the slice in
     * use (the base one, scaled by the CPU count, unless one was set); written as 0, it
     * is the base slice again, which tend has (it sets none). */
    if (syscall(SYS_sched_getattr, 0, &sched_own, sizeof sched_own, 0) != 0 || sched_own.sched_policy != SCHED_OTHER || sched_own.sched_flags != 0) return 0;
    sched_own.size = sizeof sched_own;
    sched_own.sched_runtime = 0;
    sched_short = sched_own;
    sched_short.sched_runtime = SPAWN_SLICE_NS;
    int ok = syscall(SYS_sched_setattr, 0, &sched_short, 0) == 0;
    if (sched_hint < 0) sched_hint = ok; /* refused once (seccomp, an old kernel): never again */
    return ok;
}

static void sched_hint_end(void) {
    syscall(SYS_sched_setattr, 0, &sched_own, 0);
}

static void sched_pin_end(void) {
    if (affinity_pinned) sched_setaffinity(0, sizeof affinity_own, &affinity_own);
    affinity_pinned = 0;
}

int tend_spawn(const char *strings, int argc, int envc, const int32_t *fds, int nfds, int flags, const char *leaf) {
    if (argc < 1 || envc < 0) return -EINVAL;
    int group = flags & (TEND_SPAWN_SESSION | TEND_SPAWN_GROUP);
    int has_leaf = leaf != NULL && leaf[0] != '\0';
    /* A clone child is not waited for to exec when it has a report pipe for what stops it
     * before (a helper argv: fd 3), unless TEND_SPAWN_WAIT=1 keeps CLONE_VFORK. */
    int async = (flags & TEND_SPAWN_STEPS) && nfds > 3 && fds[3] >= 0 && !spawn_wait;
    /* A stack and a place for what a clone child reads until its exec, where one of the
     * clone paths may start it; taken first, as it may wait for a child in flight. None
     * (out of memory): posix_spawn, below. */
    spawn_slot *slot = NULL;
    if (((flags & TEND_SPAWN_STEPS) && (flags & TEND_SPAWN_DIRECT) && direct_usable) || (has_leaf && clone3_usable)) slot = slot_take();
    /* The strings, copied: such a child reads its argv and envp after tend_spawn returned,
     * and the caller's buffer is not tend_spawn's to keep. Two argument vectors share the
     * environment: plain (the child is born in its leaf) and joining (argv[0], "-c",
     * leaf, the rest), then NULL and the environment. In the slot's own buffers (kept
     * from spawn to spawn: freed and made again among libuv's long-lived allocations,
     * they left heap holes, ~2 MiB at 1,000 services), else malloc's. */
    size_t bytes = 0;
    for (int i = 0; i < 1 + argc + envc; i++) bytes += strlen(strings + bytes) + 1;
    size_t slots = (size_t)argc + 1 + (size_t)argc + 3 + (size_t)envc + 1;
    char *copy = NULL, **vector = NULL;
    int owned = slot == NULL || !slot_buffers(slot, bytes, slots, &copy, &vector);
    if (owned) {
        copy = malloc(bytes);
        vector = calloc(slots, sizeof *vector);
        if (copy == NULL || vector == NULL) {
            free(copy);
            free(vector);
            return -ENOMEM;
        }
    }
    memcpy(copy, strings, bytes);
    char **plain = vector, **joining = vector + argc + 1, **envp = joining + argc + 3;
    const char *path = copy;
    const char *next = copy + strlen(copy) + 1;
    for (int i = 0; i < argc + envc; i++) {
        if (i < argc) plain[i] = joining[i == 0 ? 0 : i + 2] = (char *)next;
        else envp[i - argc] = (char *)next;
        next += strlen(next) + 1;
    }
    joining[1] = "-c";
    joining[2] = (char *)leaf; /* read only by posix_spawn, which is done when it returns */
    if (!has_leaf) joining = plain;

    fd_plan plan;
    int err = plan_fds(fds, nfds, &plan);
    /* Opened before the lock: a path walk the reaper need not wait for. A leaf that cannot
     * be opened is left to the helper, whose join then says why it cannot. */
    int cgroup_fd = -1;
    if (err == 0 && has_leaf && clone3_usable) cgroup_fd = open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* The direct path, prepared (allocations, PATH candidates, fd copies) before the lock.
     * Only where the child can be born in its leaf, or has none: a join in the child
     * would hold tend's thread for the move's RCU grace period (10–20 ms), where the
     * helper's join runs beside it. */
    direct_args *direct = NULL;
    if (err == 0 && (flags & TEND_SPAWN_STEPS) && (flags & TEND_SPAWN_DIRECT) && direct_usable && (!has_leaf || cgroup_fd >= 0))
        direct = direct_prepare(plain, argc, envp, envc, fds, nfds, group);
    int hinted = 0;
    if (slot != NULL && err == 0 && (direct != NULL || cgroup_fd >= 0)) slot_hint(slot, hinted = async && group != 0 && sched_hint_begin());
    if (hinted) {
        sched_pin_begin();
        slot_pin(slot);
    }
    pid_t pid = -1;
    pthread_mutex_lock(&lock);
    /* Room first: a pid that cannot be recorded must not be started. */
    if (err == 0 && (table_used + 1) * 2 > table_size && table_grow() != 0) err = ENOMEM;
    int started = 0, tried_into = 0, one_exec = 0, cloned = 0;
    if (err == 0 && slot != NULL && direct != NULL && direct_usable && (!has_leaf || clone3_usable)) {
        int result = spawn_direct(direct, slot, async, has_leaf ? cgroup_fd : -1, &pid);
        if (result == 0) {
            started = one_exec = cloned = 1;
            spawns_direct++;
            if (has_leaf) spawns_born_in_leaf++;
        } else if (result > 0) {
            err = result; /* the vfork child could not make its fds or session: as below */
        } else {
            tried_into = has_leaf;
            clone3_refused(result, has_leaf);
        }
    }
    if (err == 0 && !started && slot != NULL && cgroup_fd >= 0 && clone3_usable && !tried_into) {
        int result = spawn_into_cgroup(path, plain, envp, &plan, group, cgroup_fd, slot, async, &pid);
        if (result == 0) {
            started = cloned = 1;
            spawns_born_in_leaf++;
        } else if (result > 0) {
            err = result; /* the child could not exec the helper: as posix_spawn reports it */
        } else {
            clone3_refused(result, 1);
        }
    }
    if (err == 0 && !started) {
        if (hinted) sched_hint_end(); /* posix_spawn's child keeps what it inherits */
        if (hinted) sched_pin_end();
        hinted = 0;
        err = spawn_posix(path, joining, envp, &plan, group, &pid);
        if (err == 0 && has_leaf) spawns_joined_leaf++;
    }
    if (err == 0 && !one_exec && (flags & TEND_SPAWN_STEPS)) spawns_helper++;
    if (err == 0) {
        table_insert(pid);
        child_news++;
        if (reaper_parked) pthread_cond_signal(&wake_reaper);
    }
    pthread_mutex_unlock(&lock);
    /* The child has its own copies of every fd (no CLONE_FILES): tend's go at once. */
    if (cgroup_fd >= 0) close(cgroup_fd);
    if (direct != NULL) direct_close(direct);
    release_fds(&plan);
    if (err == 0 && cloned && async) {
        /* The rest stays until the child is past its exec; the session or process group
         * must exist when tend_spawn returns (a kill of the group at once finds it). */
        if (owned) slot_keep_strings(slot, copy, vector);
        slot_keep(slot, one_exec ? direct : NULL);
        if (!one_exec && direct != NULL) direct_free(direct);
        if (hinted) sched_pin_end();
        if (group != 0) slot_wait_session(slot);
        if (hinted) sched_hint_end();
        return pid;
    }
    if (hinted) sched_hint_end();
    if (hinted) sched_pin_end();
    if (direct != NULL) direct_free(direct);
    if (owned) {
        free(vector);
        free(copy);
    }
    return err == 0 ? pid : -err;
}

/*
 * How spawns were made: out[0] = 1 while clone3 is used, out[1] = the errno that turned
 * it off (0: none), out[2] = children born in their leaf, out[3] = children started by
 * posix_spawn that joined theirs, out[4] = clone3 calls that started nothing; of the
 * spawns of a helper argv (TEND_SPAWN_STEPS): out[5] = done in the child with one exec,
 * out[6] = through the helper; out[7] = 1 while the direct path is usable; the clone
 * slots: out[8] = children not waited for to exec, out[9] = slots taken back once their
 * child was past its exec, out[10] = slots still in flight (after taking back what can
 * be), out[11] = slots made, out[12] = spawns that waited for a slot, out[13] = the cap,
 * out[14] = ms tend waited for children to make their session.
 */
void tend_spawn_stats(double *out) {
    slots_reclaim();
    pthread_mutex_lock(&lock);
    out[0] = clone3_usable;
    out[1] = clone3_refusal;
    out[2] = (double)spawns_born_in_leaf;
    out[3] = (double)spawns_joined_leaf;
    out[4] = (double)clone3_failures;
    out[5] = (double)spawns_direct;
    out[6] = (double)spawns_helper;
    out[7] = direct_usable;
    pthread_mutex_unlock(&lock);
    out[8] = (double)spawns_unwaited;
    out[9] = (double)slots_reclaimed;
    out[10] = slots_in_flight();
    out[11] = spawn_slots_made;
    out[12] = (double)slot_waits;
    out[13] = spawn_slots_cap;
    out[14] = (double)session_wait_ns / 1e6;
}

/*
 * wait: 1 keeps CLONE_VFORK (tend waits for every clone child's exec, as before the
 * slots: TEND_SPAWN_WAIT=1, to compare); slots: the cap on children in flight (1..256;
 * 0 leaves it). From the event loop's thread, like tend_spawn.
 */
void tend_spawn_configure(int wait, int slots, int hint) {
    spawn_wait = wait != 0;
    if (!hint) sched_hint = 0;
    sched_pin = hint != 1;
    if (slots > 0) spawn_slots_cap = slots > SPAWN_SLOTS_MAX ? SPAWN_SLOTS_MAX : slots;
}

/* A source below nfds that goes elsewhere would be overwritten by an earlier move: such
 * sources are first copied, in tend, above the range (close-on-exec, closed again after
 * the spawn). Only identity moves (0→0 for an inherited stdio) stay below it. */
static int plan_fds(const int32_t *fds, int nfds, fd_plan *plan) {
    int err = 0;
    plan->nfds = nfds > MAX_FDS ? MAX_FDS : nfds;
    for (int i = 0; i < plan->nfds; i++) {
        plan->source[i] = fds[i];
        plan->copied[i] = -1;
        if (fds[i] >= 0 && fds[i] < plan->nfds && fds[i] != i) {
            plan->copied[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, plan->nfds);
            if (plan->copied[i] < 0 && err == 0) err = errno;
            plan->source[i] = plan->copied[i];
        }
    }
    return err;
}

static void release_fds(fd_plan *plan) {
    for (int i = 0; i < plan->nfds; i++)
        if (plan->copied[i] >= 0) close(plan->copied[i]);
}

/* Every signal, glibc's own real-time ones (32, 33) included: sigfillset leaves them out. */
static void fill_all(sigset_t *all) {
    sigfillset(all);
    /* sigaddset refuses 32 and 33, so their bits (signal N is bit N-1) are set directly. */
    for (int sig = 32; sig < SIGRTMIN; sig++)
        ((unsigned long *)all)[(sig - 1) / (8 * sizeof(unsigned long))] |= 1UL << ((sig - 1) % (8 * sizeof(unsigned long)));
}

/* glibc's posix_spawn (clone(CLONE_VM|CLONE_VFORK)): the child starts in tend's own
 * cgroup. Used when there is no leaf, or clone3 cannot start the child in it. */
static int spawn_posix(const char *path, char *const argv[], char *const envp[], const fd_plan *plan, int group, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int err = posix_spawn_file_actions_init(&actions);
    if (err != 0) return err;
    /* dup2 onto the target clears close-on-exec; dup2 of an fd onto itself does too in
     * posix_spawn (glibc 2.29, as POSIX.1-2024 asks). */
    for (int i = 0; i < plan->nfds && err == 0; i++) {
        if (plan->source[i] >= 0) err = posix_spawn_file_actions_adddup2(&actions, plan->source[i], i);
        else err = posix_spawn_file_actions_addclose(&actions, i);
    }
    if (err == 0) err = posix_spawnattr_init(&attr);
    if (err != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return err;
    }
    /* The helper starts with no blocked signal and every disposition at its default: the
     * event loop's handlers and mask are not the service's. */
    sigset_t none, all;
    sigemptyset(&none);
    /* In the set, glibc's own real-time signals are reset to SIG_DFL like every other
     * signal; left out, posix_spawn would set them to SIG_IGN in the child when tend has a
     * handler for them — an ignored disposition that exec keeps and that the helper cannot
     * undo through libc. */
    fill_all(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    /* The session or process group exists before posix_spawn returns: a signal tend sends
     * to the group at once (one that came in while the helper starts) finds it, where a
     * setsid/setpgid in the helper would leave a window in which kill(-pid) says ESRCH. */
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (group == TEND_SPAWN_SESSION) flags |= POSIX_SPAWN_SETSID;
    if (group == TEND_SPAWN_GROUP) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, 0);
    }
    posix_spawnattr_setflags(&attr, flags);
    err = posix_spawn(pid, path, &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return err;
}

/*
 * clone3 with CLONE_INTO_CGROUP (Linux 5.7): the child is in its leaf from its first
 * instruction, so the helper has no cgroup.procs to write. That write was the slow step of
 * every start: moving a running task waits for cgroup_threadgroup_rwsem, an RCU grace
 * period (measured 11–20 ms from spawn to the service's first instruction, against 1–3 ms
 * without a leaf); a child forked into its cgroup never moves.
 *
 * What posix_spawn gives is kept, the same way glibc gets it: CLONE_VM, so Node's page
 * tables are not copied; the child runs on a stack of its own, since it shares the
 * parent's memory, and does only async-signal-safe things. Unlike posix_spawn the parent
 * does not wait for the exec (no CLONE_VFORK, unless TEND_SPAWN_WAIT=1): see spawn_slot. The raw syscall returns twice on two stacks, which
 * C cannot express: a few lines of assembly (clone3_run) make the call and, in the child,
 * call child_main on the new stack and never return.
 */
#if defined(__x86_64__) || defined(__aarch64__)
#define HAVE_CLONE3_RUN 1
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

struct clone3_args { /* struct clone_args, CLONE_ARGS_SIZE_VER2 */
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* long clone3_run(struct clone3_args *args, size_t size, int (*fn)(void *), void *arg):
 * the parent gets the child's pid or -errno; the child runs fn(arg), then exits with its
 * result. fn and arg ride in registers the syscall keeps (r8/r9, x10/x11): the child
 * cannot read the parent's stack frame from its own stack. */
long clone3_run(struct clone3_args *args, size_t size, int (*fn)(void *), void *arg) __attribute__((visibility("hidden")));
#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl clone3_run\n"
    ".hidden clone3_run\n"
    ".type clone3_run, @function\n"
    "clone3_run:\n"
    "    mov %rdx, %r8\n"         /* fn */
    "    mov %rcx, %r9\n"         /* arg */
    "    mov $435, %eax\n"        /* SYS_clone3: the same number on every architecture */
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 1f\n"
    "    xor %ebp, %ebp\n"        /* the child: the outermost frame of its stack */
    "    and $-16, %rsp\n"
    "    mov %r9, %rdi\n"
    "    call *%r8\n"
    "    mov %eax, %edi\n"
    "    mov $60, %eax\n"         /* SYS_exit: this task only */
    "    syscall\n"
    "    hlt\n"
    "1:  ret\n"
    ".size clone3_run, .-clone3_run\n");
#else
__asm__(
    ".text\n"
    ".globl clone3_run\n"
    ".hidden clone3_run\n"
    ".type clone3_run, %function\n"
    "clone3_run:\n"
    "    mov x10, x2\n"           /* fn */
    "    mov x11, x3\n"           /* arg */
    "    mov x8, #435\n"          /* SYS_clone3 */
    "    svc #0\n"
    "    cbnz x0, 1f\n"
    "    mov x29, xzr\n"          /* the child: the outermost frame of its stack */
    "    mov x30, xzr\n"
    "    mov x0, x11\n"
    "    blr x10\n"
    "    mov x8, #93\n"           /* SYS_exit */
    "    svc #0\n"
    "    brk #0\n"
    "1:  ret\n"
    ".size clone3_run, .-clone3_run\n");
#endif

/* long clone_run(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg,
 * volatile uint32_t *child_tid): the same with the older clone system call, for a child
 * with no cgroup to be born in. Docker's default seccomp profile answers clone3 with
 * ENOSYS (so that glibc falls back to clone) and lets this clone's flags through.
 * parent_tid and tls are 0 (no CLONE_PARENT_SETTID, no CLONE_SETTLS: the kernel reads
 * neither); child_tid is CLONE_CHILD_CLEARTID's word. */
long clone_run(unsigned long flags, void *stack_top, int (*fn)(void *), void *arg, volatile uint32_t *child_tid) __attribute__((visibility("hidden")));
#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl clone_run\n"
    ".hidden clone_run\n"
    ".type clone_run, @function\n"
    "clone_run:\n"
    "    mov %r8, %r10\n"         /* child_tid */
    "    mov %rdx, %r8\n"         /* fn (r8 is clone's tls argument: unread without CLONE_SETTLS) */
    "    mov %rcx, %r9\n"         /* arg */
    "    xor %edx, %edx\n"        /* parent_tid */
    "    mov $56, %eax\n"         /* SYS_clone: flags in rdi, the stack's top in rsi */
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 1f\n"
    "    xor %ebp, %ebp\n"        /* the child, on the new stack: as in clone3_run */
    "    and $-16, %rsp\n"
    "    mov %r9, %rdi\n"
    "    call *%r8\n"
    "    mov %eax, %edi\n"
    "    mov $60, %eax\n"
    "    syscall\n"
    "    hlt\n"
    "1:  ret\n"
    ".size clone_run, .-clone_run\n");
#else
__asm__(
    ".text\n"
    ".globl clone_run\n"
    ".hidden clone_run\n"
    ".type clone_run, %function\n"
    "clone_run:\n"
    "    mov x10, x2\n"           /* fn */
    "    mov x11, x3\n"           /* arg */
    "    mov x2, xzr\n"           /* parent_tid, tls (arm64's order); child_tid stays in x4 */
    "    mov x3, xzr\n"
    "    mov x8, #220\n"          /* SYS_clone: flags in x0, the stack's top in x1 */
    "    svc #0\n"
    "    cbnz x0, 1f\n"
    "    mov x29, xzr\n"
    "    mov x30, xzr\n"
    "    mov x0, x11\n"
    "    blr x10\n"
    "    mov x8, #93\n"
    "    svc #0\n"
    "    brk #0\n"
    "1:  ret\n"
    ".size clone_run, .-clone_run\n");
#endif

/*
 * System calls for the clone child, which shares tend's memory and its thread pointer:
 * glibc's syscall() writes errno, and errno is tend's event-loop thread's (the child has
 * its TLS), which now runs beside the child. These return -errno and write nothing.
 */
static inline long raw6(long n, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
    return ret;
#else
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c,
                  x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
#endif
}
#define RAW_ARGS(n, a, b, c, d, e, f, ...) raw6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))
#define raw(...) RAW_ARGS(__VA_ARGS__, 0, 0, 0, 0, 0, 0)

/*
 * A spawn in flight. Without CLONE_VFORK the child runs beside tend, on shared memory,
 * until its exec: it needs a stack of its own, and its arguments (the strings, argv and
 * envp, the direct path's prepared steps, the fd plan) must stay where they are until the
 * kernel is done with them. CLONE_CHILD_CLEARTID makes the kernel write 0 to `word` and
 * futex-wake it when the child releases tend's memory — at its exec (the new program has
 * its own) or its exit —; after that nothing of the slot is read any more, and the next
 * spawn takes it back (slot_take). `word`: 1 from the clone, 2 once the child has made
 * its session or process group (tend_spawn waits for that: the group exists when it
 * returns), 0 from the kernel.
 */
#define SPAWN_STACK (16 * 1024)  /* the child uses < 4.5 KiB (gcc -fstack-usage: child_report's line); RSS: the pages it touches */
typedef struct {
    const char *path;
    char *const *argv, *const *envp;
    const fd_plan *plan;
    int group;
    int async;                 /* no CLONE_VFORK: failures go on the report pipe */
    int report_fd;             /* the helper's report pipe (fd 3's source), -1: none */
    volatile uint32_t *word;   /* the slot's word: 2 once the session is made */
    int hinted;                /* born with the short slice: tend's attributes back before exec */
    const spawn_slot *slot;
    volatile int err;          /* CLONE_VFORK: written by a child that cannot exec, read by tend after */
} child_args;

struct spawn_slot {
    volatile uint32_t word;    /* see above; the kernel's CLONE_CHILD_CLEARTID target */
    int busy;                  /* a child may still be on the stack or reading what is kept */
    int hinted;                /* this spawn's child is born with the short slice */
    int pinned;                /* ... and pinned to tend's CPU: `affinity` back after its session */
    int pinned_cpu;
    cpu_set_t affinity;
    struct sched_attr_v1 sched_restore; /* tend's attributes, which the child takes back before exec */
    uint64_t seq;              /* when it was taken: the oldest is waited for when all are busy */
    char *stack;               /* SPAWN_STACK bytes above a guard page */
    char *buffer;              /* the slot's own: the strings, then the vectors (slot_buffers) */
    size_t buffer_size;
    char *strings;             /* kept until the child is past its exec: malloc's, when */
    char **vector;             /* the slot's buffer could not be grown */
    direct_args *direct;
    child_args args;
    fd_plan plan;
};

static spawn_slot *spawn_slots[SPAWN_SLOTS_MAX];

/* The kernel's struct sigaction with SIG_DFL, no flags, no mask: all zeros on x86-64 and
 * arm64 alike. glibc's sigaction refuses its own signals 32 and 33; the raw call does not. */
struct kernel_sigaction { unsigned long handler, flags, restorer, mask; };

/* Every disposition to its default, ignored ones included (posix_spawn's SETSIGDEF of every
 * signal): tend's handlers and ignores are not the child's. Signals are still blocked. */
static void child_default_signals(void) {
    struct kernel_sigaction dfl = { 0, 0, 0, 0 };
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) raw(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
}

/* The session or process group is made: tend_spawn, waiting for it, may return. */
static void child_session_made(volatile uint32_t *word) {
    __atomic_store_n(word, 2, __ATOMIC_RELEASE);
    raw(SYS_futex, word, FUTEX_WAKE, 1);
}

/* Back on every CPU tend may use, once the session is made: its exec (which picks the
 * idlest CPU) and the service are not tied to tend's. Unless the kernel has set the mask
 * itself meanwhile: a child born in a leaf with a cpuset of its own gets that cpuset's
 * CPUs, as before. */
static void child_unpin(const spawn_slot *s) {
    if (!s->pinned) return;
    cpu_set_t now;
    long n = raw(SYS_sched_getaffinity, 0, sizeof now, &now);
    if (n <= 0) return;
    const unsigned char *bytes = (const unsigned char *)&now;
    for (long i = 0; i < n; i++)
        if (bytes[i] != (i == s->pinned_cpu / 8 ? 1u << (s->pinned_cpu % 8) : 0u)) return;
    raw(SYS_sched_setaffinity, 0, sizeof s->affinity, &s->affinity);
}

/* What every clone child does first: its session or process group, before tend_spawn
 * returns (it waits for this step, not for the exec: a signal to the group cannot miss
 * it); then back on tend's CPUs and every disposition to its default, signals still
 * blocked. < 0: the session or group could not be made (-errno). */
static long child_begin(int group, int async, volatile uint32_t *word, const spawn_slot *slot) {
    long r = 0;
    if (group == TEND_SPAWN_SESSION) r = raw(SYS_setsid);
    else if (group == TEND_SPAWN_GROUP) r = raw(SYS_setpgid, 0, 0);
    if (r < 0) return r;
    if (async) child_session_made(word);
    child_unpin(slot);
    child_default_signals();
    return 0;
}

/* The helper's fail(): "<step> <errno> <detail>\n" in one write on the report pipe; the
 * exit status is 127 for a command not found, else 126. */
static int child_report(int fd, const char *step, int err, const char *detail) {
    char line[PATH_MAX + 128]; /* the helper's line, cut where its snprintf would cut it */
    size_t n = 0, cap = sizeof line - 1;
    for (const char *c = step; *c != '\0' && n < cap; c++) line[n++] = *c;
    if (n < cap) line[n++] = ' ';
    char digits[12];
    int k = 0;
    unsigned value = err < 0 ? 0 : (unsigned)err;
    do digits[k++] = (char)('0' + value % 10); while ((value /= 10) != 0 && k < 11);
    while (k > 0 && n < cap) line[n++] = digits[--k];
    if (n < cap) line[n++] = ' ';
    for (const char *c = detail != NULL ? detail : ""; *c != '\0' && n < cap; c++) line[n++] = *c;
    if (n < cap) line[n++] = '\n';
    if (fd >= 0) raw(SYS_write, fd, line, n);
    return step[0] == 'e' && step[1] == 'x' && err == ENOENT ? 127 : 126; /* "exec" */
}

/*
 * The child, on its own stack, sharing tend's memory until exec: raw system calls only
 * (no errno, no libc lock), in posix_spawn's order but for the session, made first so that
 * tend waits no longer than that. Every signal is still blocked (the parent blocked all
 * before the clone), so no handler of tend's can run here before the dispositions are reset.
 */
static int child_main(void *opaque) {
    child_args *a = opaque;
    const char *step = "exec";
    long r = child_begin(a->group, a->async, a->word, a->slot);
    if (r < 0) goto fail;
    const fd_plan *plan = a->plan;
    for (int i = 0; i < plan->nfds; i++) {
        int source = plan->source[i];
        if (source == i) {
            /* An fd kept in place: it must survive the exec (posix_spawn's dup2 onto itself). */
            r = raw(SYS_fcntl, i, F_GETFD);
            if (r >= 0) r = raw(SYS_fcntl, i, F_SETFD, r & ~FD_CLOEXEC);
        } else if (source >= 0) {
            /* dup3 (arm64 has no dup2); source differs from i, and the copy is not close-on-exec. */
            r = raw(SYS_dup3, source, i, 0);
        } else {
            raw(SYS_close, i); /* not open: nothing to close, as posix_spawn's close action allows */
            r = 0;
        }
        if (r < 0) goto fail;
    }
    uint64_t none = 0;
    raw(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    if (a->hinted) raw(SYS_sched_setattr, 0, &a->slot->sched_restore, 0);
    r = raw(SYS_execve, a->path, a->argv, a->envp);
    step = "helper";
fail:
    if (!a->async) {
        a->err = (int)-r; /* tend reads it once the clone returns */
        return 127;
    }
    /* Nothing waits for this child's exec: the failure goes on the report pipe, which
     * spawn.ts reads when the child exits 126. A session or fd step is reported as "exec":
     * spawn.ts then shows the message an errno from tend_spawn got (execFailure). */
    child_report(a->report_fd, step, (int)-r, step[0] == 'h' ? a->path : a->argv[0]);
    return 126;
}

/* A free slot, its child past its exec or never started; NULL: none could be made (then
 * no clone path is taken). Takes back every slot whose child the kernel has let go of;
 * when all SPAWN cap slots are in flight, waits for the oldest. Called on the event
 * loop's thread, without the lock (a wait must not hold up the reaper). */
static void slot_reclaim(spawn_slot *s) {
    if (!s->busy || __atomic_load_n(&s->word, __ATOMIC_ACQUIRE) != 0) return;
    free(s->strings);
    free(s->vector);
    if (s->direct != NULL) direct_free(s->direct);
    s->strings = NULL;
    s->vector = NULL;
    s->direct = NULL;
    s->busy = 0;
    slots_reclaimed++;
}

static spawn_slot *slot_take(void) {
    spawn_slot *found = NULL, *oldest = NULL;
    for (int i = 0; i < spawn_slots_made; i++) {
        spawn_slot *s = spawn_slots[i];
        slot_reclaim(s);
        if (!s->busy && found == NULL && i < spawn_slots_cap) found = s;
        if (s->busy && (oldest == NULL || s->seq < oldest->seq)) oldest = s;
    }
    if (found == NULL && spawn_slots_made < spawn_slots_cap) {
        spawn_slot *s = calloc(1, sizeof *s);
        long page = sysconf(_SC_PAGESIZE);
        void *map = s == NULL ? MAP_FAILED : mmap(NULL, SPAWN_STACK + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (map == MAP_FAILED || mprotect(map, (size_t)page, PROT_NONE) != 0) {
            if (map != MAP_FAILED) munmap(map, SPAWN_STACK + (size_t)page);
            free(s);
            return NULL;
        }
        s->stack = (char *)map + page;
        spawn_slots[spawn_slots_made++] = found = s;
    }
    if (found == NULL && oldest != NULL) {
        /* Every slot in flight: the oldest child is the likeliest to be done soonest. */
        slot_waits++;
        uint32_t value;
        while ((value = __atomic_load_n(&oldest->word, __ATOMIC_ACQUIRE)) != 0)
            syscall(SYS_futex, &oldest->word, FUTEX_WAIT, value, NULL, NULL, 0);
        slot_reclaim(oldest);
        found = oldest;
    }
    if (found != NULL) found->seq = ++spawn_slot_seq;
    return found;
}

static void slot_hint(spawn_slot *s, int hinted) {
    s->hinted = hinted;
    s->pinned = 0;
    if (hinted) s->sched_restore = sched_own;
}

static void slot_pin(spawn_slot *s) {
    s->pinned = affinity_pinned;
    s->pinned_cpu = affinity_cpu;
    if (s->pinned) s->affinity = affinity_own;
}

/* The spawn's memory, kept until its child is past its exec. */
static void slot_keep(spawn_slot *s, direct_args *direct) {
    s->direct = direct;
    s->busy = 1;
    spawns_unwaited++;
}

static void slot_keep_strings(spawn_slot *s, char *strings, char **vector) {
    s->strings = strings;
    s->vector = vector;
}

/* The strings (bytes) and the vectors (pointers, zeroed) in the slot's buffer, grown as
 * needed (the slot is free: nothing reads it). 0: it could not be grown. */
static int slot_buffers(spawn_slot *s, size_t bytes, size_t pointers, char **strings, char ***vector) {
    size_t at = (bytes + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
    size_t need = at + pointers * sizeof(char *);
    if (need > s->buffer_size) {
        size_t size = need < 4096 ? 4096 : need + need / 2;
        char *grown = realloc(s->buffer, size);
        if (grown == NULL) return 0;
        s->buffer = grown;
        s->buffer_size = size;
    }
    *strings = s->buffer;
    *vector = (char **)(s->buffer + at);
    memset(*vector, 0, pointers * sizeof(char *));
    return 1;
}

static void slots_reclaim(void) {
    for (int i = 0; i < spawn_slots_made; i++) slot_reclaim(spawn_slots[i]);
}

static int slots_in_flight(void) {
    int n = 0;
    for (int i = 0; i < spawn_slots_made; i++) n += spawn_slots[i]->busy;
    return n;
}

/* tend waits here, after the lock, until the child has made its session or process group
 * (word 2) or has let go of tend's memory (0: exec'd or ended) — not for its exec. */
static void slot_wait_session(spawn_slot *s) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (__atomic_load_n(&s->word, __ATOMIC_ACQUIRE) == 1)
        syscall(SYS_futex, &s->word, FUTEX_WAIT, 1, NULL, NULL, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    session_wait_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec));
}

/* Runs fn(arg) on the slot's stack in a child made with CLONE_VM — by clone3, born in
 * cgroup_fd's leaf, or by clone when cgroup_fd is -1 —, and, unless `async`, waits as
 * vfork does for it to exec or end (CLONE_VFORK: TEND_SPAWN_WAIT=1, and spawns with no
 * report pipe). 0 and *pid; > 0: *err, set by a vfork child that could not get as far as
 * its exec (it was reaped here, as posix_spawn does); < 0: -errno from the clone, nothing
 * started. */
static int clone_child(int (*fn)(void *), void *arg, volatile int *err, spawn_slot *slot, int async, int cgroup_fd, pid_t *pid) {
    uint64_t flags = CLONE_VM | CLONE_CHILD_CLEARTID | (async ? 0 : CLONE_VFORK);
    __atomic_store_n(&slot->word, 1, __ATOMIC_RELEASE);
    struct clone3_args clone = {
        .flags = flags | CLONE_INTO_CGROUP,
        .child_tid = (uint64_t)(uintptr_t)&slot->word,
        .exit_signal = SIGCHLD,
        .stack = (uint64_t)(uintptr_t)slot->stack,
        .stack_size = SPAWN_STACK,
        .cgroup = (uint64_t)cgroup_fd,
    };
    /* Every signal blocked across the clone, so none is handled in the child while it
     * shares tend's memory; raw calls, so that signals.c's interposed mask calls (which
     * keep held signals blocked) are not in the way of putting the mask back exactly. */
    uint64_t all = ~(uint64_t)0, old = 0; /* the kernel's mask: 64 signals, one bit each */
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
    long result = cgroup_fd >= 0 ? clone3_run(&clone, sizeof clone, fn, arg)
                                 : clone_run(flags | SIGCHLD, slot->stack + SPAWN_STACK, fn, arg, &slot->word);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
    if (result < 0) {
        __atomic_store_n(&slot->word, 0, __ATOMIC_RELEASE);
        return (int)result;
    }
    if (!async && *err != 0) {
        /* Reaped here, under the lock: the reaper thread will not count it as an orphan. */
        int status;
        while (waitpid((pid_t)result, &status, 0) < 0 && errno == EINTR) {}
        return *err;
    }
    *pid = (pid_t)result;
    return 0;
}

static int spawn_into_cgroup(const char *path, char *const argv[], char *const envp[], const fd_plan *plan, int group, int cgroup_fd, spawn_slot *slot, int async, pid_t *pid) {
    slot->plan = *plan; /* the child reads it after tend_spawn has returned */
    slot->args = (child_args){ path, argv, envp, &slot->plan, group, async, plan->nfds > 3 ? plan->source[3] : -1, &slot->word, slot->hinted, slot, 0 };
    return clone_child(child_main, &slot->args, &slot->args.err, slot, async, cgroup_fd, pid);
}
#else
/* No clone3_run for this architecture: every spawn takes posix_spawn and the helper joins. */
struct spawn_slot { int unused; };
static spawn_slot *slot_take(void) { return NULL; }
static void slot_keep(spawn_slot *s, direct_args *direct) { (void)s, (void)direct; }
static void slot_keep_strings(spawn_slot *s, char *strings, char **vector) { (void)s, (void)strings, (void)vector; }
static int slot_buffers(spawn_slot *s, size_t bytes, size_t pointers, char **strings, char ***vector) { (void)s, (void)bytes, (void)pointers, (void)strings, (void)vector; return 0; }
static void slot_wait_session(spawn_slot *s) { (void)s; }
static void slot_hint(spawn_slot *s, int hinted) { (void)s, (void)hinted; }
static void slot_pin(spawn_slot *s) { (void)s; }
static void slots_reclaim(void) {}
static int slots_in_flight(void) { return 0; }
static int spawn_into_cgroup(const char *path, char *const argv[], char *const envp[], const fd_plan *plan, int group, int cgroup_fd, spawn_slot *slot, int async, pid_t *pid) {
    (void)path, (void)argv, (void)envp, (void)plan, (void)group, (void)cgroup_fd, (void)slot, (void)async, (void)pid;
    return -ENOSYS;
}
#endif

/* ---------------------------------------------------------------------------------- */
/*
 * One exec per start. Every exec of a glibc program costs ~0.5 ms of CPU before main on
 * a VM where cpuid traps to the hypervisor (glibc's start-up probes the CPU's features
 * and caches: ~70 cpuid calls at ~7 µs), and a start through the helper is two such
 * execs: the helper, then the command. Most services ask the helper for nothing that
 * needs libc — no user or group to look up (NSS: /etc/passwd, LDAP...), no runtime
 * directory to make for them —, and those steps are done here, in the clone child,
 * with raw system calls, before it execs the command itself.
 *
 * The child shares tend's memory (CLONE_VM) until it execs, on a stack of its own, and
 * runs beside every thread of tend's, the event loop's included: so it calls no malloc,
 * no stdio, no locale, nothing that takes a lock, and not even glibc's syscall() (which
 * writes errno, the event loop thread's: the child has its TLS) — raw() only —, and
 * everything it uses — argv, envp, the "NAME=" slots it writes its own pid into, the PATH
 * candidates, the fds it moves — was made by the parent before the clone and stays in
 * its slot until the kernel says the child is past its exec. Every signal stays blocked
 * until the dispositions are back at their defaults (a handler of Node's running here
 * would write into the parent's signal pipe).
 *
 * It does the helper's steps in the helper's order, with the helper's effects, and
 * reports a failed step as the helper does — the line "<step> <errno> <detail>" on the
 * report pipe, then exit 127 (exec: not found) or 126 —, so tend's messages and exit
 * codes are the same on either path (native/tend-exec.c says what each step is for).
 * Whatever this path does not handle, or any argument it does not understand, goes
 * through the helper as before: -u, -g, -H, -R (NSS, a directory owned by the user), -j
 * and -c (a join in the child would hold tend's thread for the move's RCU grace period,
 * where the helper's join runs beside tend), an empty PATH, names too long for execvp.
 */
#define DIRECT_MAX_VARS 8     /* the helper's MAX_JOIN for -P */
#define DIRECT_MAX_LISTEN 32  /* the helper's bound for -L */
#define DIRECT_PID_ROOM 24    /* digits of a pid, and the NUL */

struct direct_args {
    int group;                /* TEND_SPAWN_SESSION / TEND_SPAWN_GROUP / 0, made by the child */
    int stdio[3];             /* sources of fds 0-2 (-1: closed); see plan_fds */
    int report_fd;            /* the report pipe: close-on-exec, above every target */
    int set_nofile, set_core;
    uint64_t nofile[2], core[2];  /* soft, hard: the kernel's struct rlimit64 */
    const char *nofile_text, *core_text, *oom;
    size_t oom_len;
    int foreground;           /* -f: the terminal's foreground group when stdin is one */
    int notify_source, notify_target;
    const char *dir;
    long mask;                /* -1: tend's */
    int pid_vars;
    char *pid_slot[DIRECT_MAX_VARS]; /* just after "NAME=": the child writes its pid there */
    int listen_count;
    int listen_source[DIRECT_MAX_LISTEN];
    char *const *argv, *const *envp;
    const char *command;      /* argv[0]: the report's detail */
    int search;               /* no '/' in it: execvp's PATH search over `candidates` */
    char **candidates;        /* NULL-terminated "dir/command" (or "command" for an empty dir) */
    char **shell_argv;        /* /bin/sh, the file, argv[1..]: execvp's ENOEXEC fallback */
    int copies[DIRECT_MAX_LISTEN + 8], ncopies; /* the parent's fd copies, closed after */
    void *arena;              /* everything else the parent allocated */
    int async;                /* no CLONE_VFORK: a failure before exec goes on the report pipe */
    volatile uint32_t *word;  /* the slot's word: 2 once the session is made */
    int hinted;               /* born with the short slice: tend's attributes back before exec */
    const spawn_slot *slot;
    volatile int err;         /* CLONE_VFORK: set by a child that could not make its fds or session */
};

/* A copy of fd, close-on-exec, at or above `floor`, recorded for release; -1 on failure. */
static int direct_copy(direct_args *d, int fd, int floor) {
    if (d->ncopies >= (int)(sizeof d->copies / sizeof d->copies[0])) return -1;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (copy >= 0) d->copies[d->ncopies++] = copy;
    return copy;
}

/* The parent's fd copies go right after the clone (the child has its own fd table: no
 * CLONE_FILES); the memory stays until the child is past its exec (direct_free). */
static void direct_close(direct_args *d) {
    for (int i = 0; i < d->ncopies; i++) close(d->copies[i]);
    d->ncopies = 0;
}

static void direct_free(direct_args *d) {
    direct_close(d);
    free(d->arena);
    free(d);
}

/*
 * Reads the helper's argv (argv[0], options, "--", the command) and the fds tend_spawn
 * was given for it (0-2 stdio, 3 the report pipe, 4 the readiness pipe, 5.. the
 * listening sockets), and prepares everything the child needs. NULL: the helper does it.
 */
static direct_args *direct_prepare(char **argv, int argc, char **envp, int envc, const int32_t *fds, int nfds, int group) {
#ifndef HAVE_CLONE3_RUN
    (void)argv, (void)argc, (void)envp, (void)envc, (void)fds, (void)nfds, (void)group;
    return NULL;
#else
    direct_args *d = calloc(1, sizeof *d);
    if (d == NULL) return NULL;
    d->group = group;
    d->mask = -1;
    d->notify_target = -1;
    const char *pid_names[DIRECT_MAX_VARS];
    int i = 1, ok = 1;
    for (; i < argc && ok; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) break;
        if (arg[0] != '-' || arg[1] == '\0' || arg[2] != '\0') { ok = 0; break; }
        char flag = arg[1];
        /* The session or group the child makes (tend_spawn's flags) must be what the
         * helper was asked to make. */
        if (flag == 's') { ok = group == TEND_SPAWN_SESSION; continue; }
        if (flag == 'f') { ok = group == TEND_SPAWN_GROUP; d->foreground = 1; continue; }
        if (i + 1 >= argc) { ok = 0; break; }
        const char *value = argv[++i];
        unsigned long number = 0;
        char *end;
        switch (flag) {
            case 'N': ok = exec_arg_limit(value, &d->nofile[0]); d->nofile[1] = d->nofile[0]; d->set_nofile = 1; d->nofile_text = value; break;
            case 'C': ok = exec_arg_limit(value, &d->core[0]); d->core[1] = d->core[0]; d->set_core = 1; d->core_text = value; break;
            case 'O': {
                errno = 0;
                long adj = strtol(value, &end, 10);
                ok = errno == 0 && *value != '\0' && *end == '\0' && adj >= -1000 && adj <= 1000;
                d->oom = value;
                d->oom_len = strlen(value);
                break;
            }
            case 'd': d->dir = value; break;
            case 'm':
                errno = 0;
                d->mask = strtol(value, &end, 8);
                ok = errno == 0 && *value != '\0' && *end == '\0' && d->mask >= 0 && d->mask <= 0777;
                break;
            case 'L':
                ok = exec_arg_id(value, &number) && number <= DIRECT_MAX_LISTEN;
                d->listen_count = (int)number;
                break;
            case 'P':
                ok = d->pid_vars < DIRECT_MAX_VARS && value[0] != '\0' && strchr(value, '=') == NULL;
                if (ok) pid_names[d->pid_vars++] = value;
                break;
            case 'n':
                ok = exec_arg_id(value, &number) && number <= 1024;
                d->notify_target = (int)number;
                break;
            default: ok = 0; /* -u -g -H -R -j -c, or one the helper refuses: its to do */
        }
    }
    char **command = argv + i + 1;
    if (!ok || i >= argc || *command == NULL || (*command)[0] == '\0') goto helper;
    d->argv = command;
    d->command = command[0];

    /* The fds: stdio, the report pipe, the readiness pipe, the listening sockets, each
     * where the helper would find it. A target must not be overwritten by another (a
     * readiness fd among 0-2 or among the sockets' 3.. is left to the helper), and every
     * source that is not already in place is first copied above every target, so no
     * move overwrites a source still to come. */
    if (nfds < 4 || fds[3] < 0 || nfds > MAX_FDS) goto helper;
    if (d->notify_target >= 0 && (nfds < 5 || fds[4] < 0 || d->notify_target < 3 ||
        (d->notify_target >= 3 && d->notify_target < 3 + d->listen_count))) goto helper;
    if (nfds < 5 + d->listen_count && d->listen_count > 0) goto helper;
    int limit = 3 + d->listen_count;
    if (d->notify_target >= limit) limit = d->notify_target + 1;
    for (int t = 0; t < 3; t++) d->stdio[t] = t < nfds ? fds[t] : -1;
    for (int t = 0; t < 3; t++) {
        int source = d->stdio[t];
        if (source >= 0 && source != t && source < limit && (d->stdio[t] = direct_copy(d, source, limit)) < 0) goto helper;
    }
    d->report_fd = fds[3] >= limit ? fds[3] : direct_copy(d, fds[3], limit);
    if (d->report_fd < 0) goto helper;
    if (d->notify_target >= 0) {
        d->notify_source = fds[4] >= limit || fds[4] == d->notify_target ? fds[4] : direct_copy(d, fds[4], limit);
        if (d->notify_source < 0) goto helper;
    }
    for (int k = 0; k < d->listen_count; k++) {
        int source = fds[5 + k];
        if (source < 0) goto helper;
        d->listen_source[k] = source >= limit || source == 3 + k ? source : direct_copy(d, source, limit);
        if (d->listen_source[k] < 0) goto helper;
    }

    /* The environment: each -P variable replaces the entry of its name where there is
     * one, else is added at the end (setenv's effect), with room for the digits. Then the
     * search list from the service's PATH, as glibc's execvp builds it. */
    const char *path = NULL;
    for (int e = 0; e < envc; e++)
        if (strncmp(envp[e], "PATH=", 5) == 0) { path = envp[e] + 5; break; }
    size_t command_len = strlen(d->command);
    d->search = strchr(d->command, '/') == NULL;
    if (path == NULL) path = "/bin:/usr/bin"; /* execvp's default, and the helper's in_path's */
    /* An empty PATH: execvp looks in the working directory, the helper's "not found"
     * check in /bin:/usr/bin; names execvp refuses as too long: both left to the helper. */
    if (d->search && (path[0] == '\0' || command_len >= NAME_MAX || strlen(path) + command_len + 2 >= PATH_MAX)) goto helper;
    size_t entries = 1;
    for (const char *c = path; *c != '\0'; c++) entries += *c == ':';
    int cmd_argc = 0;
    while (command[cmd_argc] != NULL) cmd_argc++;
    /* One allocation: the pointer arrays (envp, the candidates, the shell's argv), then
     * the bytes (NAME=pid entries, candidate paths). */
    size_t pointers = (size_t)(envc + DIRECT_MAX_VARS + 1) + (entries + 1) + (size_t)(cmd_argc + 2);
    size_t room = pointers * sizeof(char *)
                + (size_t)d->pid_vars * (NAME_MAX + 1 + DIRECT_PID_ROOM)
                + strlen(path) + entries * (command_len + 2);
    char *arena = malloc(room);
    if (arena == NULL) goto helper;
    d->arena = arena;
    char **env = (char **)arena;
    d->candidates = env + envc + DIRECT_MAX_VARS + 1;
    d->shell_argv = d->candidates + entries + 1;
    char *cursor = arena + pointers * sizeof(char *);
    memcpy(env, envp, (size_t)envc * sizeof(char *));
    int count = envc;
    for (int v = 0; v < d->pid_vars; v++) {
        size_t name_len = strlen(pid_names[v]);
        if (name_len >= NAME_MAX) goto helper;
        char *entry = cursor;
        cursor += name_len + 1 + DIRECT_PID_ROOM;
        memcpy(entry, pid_names[v], name_len);
        entry[name_len] = '=';
        entry[name_len + 1] = '\0';
        d->pid_slot[v] = entry + name_len + 1;
        int e = 0;
        while (e < count && strncmp(env[e], entry, name_len + 1) != 0) e++;
        env[e] = entry;
        if (e == count) count++;
    }
    env[count] = NULL;
    d->envp = env;
    size_t n = 0;
    if (d->search) {
        for (const char *p = path;; ) {
            const char *colon = strchr(p, ':');
            size_t len = colon == NULL ? strlen(p) : (size_t)(colon - p);
            char *candidate = cursor;
            memcpy(candidate, p, len);
            if (len > 0) candidate[len++] = '/';
            memcpy(candidate + len, d->command, command_len + 1);
            cursor += len + command_len + 1;
            d->candidates[n++] = candidate;
            if (colon == NULL) break;
            p = colon + 1;
        }
    }
    d->candidates[n] = NULL;
    /* execvp's fallback for a file the kernel cannot execute (no #!): /bin/sh runs it. */
    d->shell_argv[0] = "/bin/sh";
    d->shell_argv[1] = (char *)d->command; /* the child puts the candidate that failed here */
    for (int a = 1; a < cmd_argc; a++) d->shell_argv[a + 1] = command[a];
    d->shell_argv[cmd_argc > 1 ? cmd_argc + 1 : 2] = NULL;
    return d;
helper:
    direct_free(d);
    return NULL;
#endif
}

#ifdef HAVE_CLONE3_RUN
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* A failed step, as the helper reports it (child_report). */
static int direct_fail(const direct_args *d, const char *step, int err, const char *detail) {
    return child_report(d->report_fd, step, err, detail);
}

/* Writes `value` as decimal digits and a NUL at `out` (room: DIRECT_PID_ROOM). */
static void direct_decimal(char *out, long value) {
    char digits[DIRECT_PID_ROOM];
    int k = 0;
    do digits[k++] = (char)('0' + value % 10); while ((value /= 10) != 0 && k < DIRECT_PID_ROOM - 1);
    int n = 0;
    while (k > 0) out[n++] = digits[--k];
    out[n] = '\0';
}

/* fd `source` onto `target`, not close-on-exec; in place: only the flag is cleared.
 * 0, or -errno. */
static long direct_move(int source, int target) {
    if (source == target) {
        long flags = raw(SYS_fcntl, target, F_GETFD);
        return flags < 0 ? flags : raw(SYS_fcntl, target, F_SETFD, flags & ~FD_CLOEXEC);
    }
    long r = raw(SYS_dup3, source, target, 0);
    return r < 0 ? r : 0;
}

/* The child of the direct path: see "One exec per start" above. Its steps are numbered
 * as native/tend-exec.c numbers them. Raw system calls only (raw(): no errno). */
static int direct_main(void *opaque) {
    direct_args *d = opaque;
    /* 3. The session or process group first (see child_begin), then every disposition to
     * its default, ignored ones included, as the helper's child and the helper both do:
     * tend's handlers and ignores (Node's SIGPIPE, and any SIG_IGN tend's own parent left
     * it) are not the service's. */
    long r = child_begin(d->group, d->async, d->word, d->slot);
    if (r < 0) goto early;
    for (int t = 0; t < 3; t++) {
        if (d->stdio[t] < 0) raw(SYS_close, t);
        else if ((r = direct_move(d->stdio[t], t)) != 0) goto early;
    }
    /* 0. Every other fd close-on-exec (a leaked one must not reach the service); on a
     * kernel before 5.11, one fcntl per possible fd up to the soft limit. */
    if (raw(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        uint64_t limit[2] = { 0, 0 };
        long max = raw(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, limit) == 0 && limit[0] < 65536 ? (long)limit[0] : 65536;
        for (long fd = 3; fd < max; fd++) {
            long flags = raw(SYS_fcntl, fd, F_GETFD);
            if (flags >= 0 && !(flags & FD_CLOEXEC)) raw(SYS_fcntl, fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
    /* 1b. rlimits and oom_score_adj. */
    if (d->set_nofile && (r = raw(SYS_prlimit64, 0, RLIMIT_NOFILE, d->nofile, NULL)) != 0) return direct_fail(d, "nofile", (int)-r, d->nofile_text);
    if (d->set_core && (r = raw(SYS_prlimit64, 0, RLIMIT_CORE, d->core, NULL)) != 0) return direct_fail(d, "core", (int)-r, d->core_text);
    if (d->oom != NULL) {
        long fd = raw(SYS_openat, AT_FDCWD, "/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0) return direct_fail(d, "oom_score_adj", (int)-fd, d->oom);
        r = raw(SYS_write, fd, d->oom, d->oom_len);
        if (r != (long)d->oom_len) return direct_fail(d, "oom_score_adj", r < 0 ? (int)-r : EIO, d->oom);
        raw(SYS_close, fd);
    }
    /* 3. Tini mode: the terminal's foreground to the new group when stdin is a terminal.
     * SIGTTOU is blocked here, which the kernel treats as ignored: a background group's
     * tcsetpgrp goes through, as the helper's SIG_IGN around the call makes it. */
    if (d->foreground) {
        char termios[64]; /* struct termios is 36 bytes on Linux; isatty's TCGETS */
        if (raw(SYS_ioctl, 0, TCGETS, termios) == 0) {
            int pgrp = (int)raw(SYS_getpid);
            r = raw(SYS_ioctl, 0, TIOCSPGRP, &pgrp);
            if (r != 0 && r != -ENOTTY && r != -ENXIO && r != -EPERM) return direct_fail(d, "tcsetpgrp", (int)-r, NULL);
        }
    }
    /* 4. The readiness pipe on the fd the service expects. */
    if (d->notify_target >= 0 && (r = direct_move(d->notify_source, d->notify_target)) != 0) return direct_fail(d, "notify", (int)-r, NULL);
    /* 5. Working directory. */
    if (d->dir != NULL && (r = raw(SYS_chdir, d->dir)) != 0) return direct_fail(d, "chdir", (int)-r, d->dir);
    /* 6a. umask. */
    if (d->mask >= 0) raw(SYS_umask, d->mask);
    /* 6b. The variables that name the service's pid (this child's: exec keeps it), and
     * the listening sockets on fds 3, 4, ... */
    if (d->pid_vars > 0) {
        long self = raw(SYS_getpid);
        for (int v = 0; v < d->pid_vars; v++) direct_decimal(d->pid_slot[v], self);
    }
    for (int k = 0; k < d->listen_count; k++)
        if ((r = direct_move(d->listen_source[k], 3 + k)) != 0) return direct_fail(d, "listen", (int)-r, NULL);
    /* 6. An empty mask, last: the dispositions are the defaults already. */
    uint64_t none = 0;
    raw(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    if (d->hinted) raw(SYS_sched_setattr, 0, &d->slot->sched_restore, 0); /* the service runs with tend's slice */
    /* 7. execvp, as glibc does it: a name with a '/' as is, else each PATH candidate in
     * turn, going on past the errors that mean "not here" and past EACCES (reported if
     * nothing else ran); a file the kernel cannot execute (ENOEXEC) is run by /bin/sh. */
    int err;
    if (!d->search) {
        err = (int)-raw(SYS_execve, d->command, d->argv, d->envp);
        if (err == ENOEXEC) err = (int)-raw(SYS_execve, d->shell_argv[0], d->shell_argv, d->envp);
    } else {
        int eacces = 0;
        err = ENOENT;
        for (char **candidate = d->candidates; *candidate != NULL; candidate++) {
            err = (int)-raw(SYS_execve, *candidate, d->argv, d->envp);
            if (err == EACCES) { eacces = 1; continue; }
            if (err == ENOENT || err == ESTALE || err == ENOTDIR || err == ENODEV || err == ETIMEDOUT) continue;
            if (err == ENOEXEC) {
                d->shell_argv[1] = *candidate;
                err = (int)-raw(SYS_execve, d->shell_argv[0], d->shell_argv, d->envp);
            }
            goto failed;
        }
        if (eacces) err = EACCES;
        /* The helper's correction: EACCES from a PATH directory that cannot be searched,
         * with the command in none of them, is "not found" (127), as a shell says. */
        if (err == EACCES) {
            int found = 0;
            for (char **candidate = d->candidates; *candidate != NULL && !found; candidate++)
                found = raw(SYS_faccessat, AT_FDCWD, *candidate, F_OK, 0) == 0;
            if (!found) err = ENOENT;
        }
    }
failed:
    return direct_fail(d, "exec", err, d->command);
early:
    /* The session or the stdio moves: under CLONE_VFORK tend_spawn returns the errno, as
     * it did before there was a direct path; else nothing waits for it, and it goes on the
     * report pipe as "exec", for which spawn.ts shows the same message (execFailure). */
    if (!d->async) {
        d->err = (int)-r;
        return 127;
    }
    return direct_fail(d, "exec", (int)-r, d->command);
}

static int spawn_direct(direct_args *d, spawn_slot *slot, int async, int cgroup_fd, pid_t *pid) {
    d->err = 0;
    d->async = async;
    d->word = &slot->word;
    d->hinted = slot->hinted;
    d->slot = slot;
    return clone_child(direct_main, d, &d->err, slot, async, cgroup_fd, pid);
}
#else
static int spawn_direct(direct_args *d, spawn_slot *slot, int async, int cgroup_fd, pid_t *pid) {
    (void)d, (void)slot, (void)async, (void)cgroup_fd, (void)pid;
    return -ENOSYS;
}
#endif
/*
 * kill(pid, sig) for a process tend started, only while it is still tend's unreaped
 * child: 0, or -ESRCH once it has ended (its exit may still be on its way to the event
 * loop), or -errno from kill.
 */
int tend_signal_child(int32_t pid, int sig) {
    pthread_mutex_lock(&lock);
    int result = -ESRCH;
    if (pid > 0 && table_find(pid) >= 0) result = kill(pid, sig) == 0 ? 0 : -errno;
    pthread_mutex_unlock(&lock);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* /proc                                                                                */

/*
 * Lists the pid directories of /proc as (pid, inode) pairs into out (room for `max`
 * pairs). The inode of /proc/PID is allocated when the process's directory is first
 * looked up and kept while its entry stays cached (dropped under memory pressure, it is
 * remade with a new number); a new process under a reused pid always gets a new one. So
 * an unchanged (pid, inode) pair is the same process, and a scan needs to
 * read /proc/PID/stat only for pairs it has not seen: ~3 ms for 5,000 processes instead
 * of ~60 ms (every stat read costs the kernel a task lookup and formatting).
 * Returns the number of pairs; `max` + 1 when out was too small (call again with more
 * room); -errno when /proc cannot be read.
 */
int tend_proc_list(unsigned int *out, int max) {
    DIR *dir = opendir("/proc");
    if (dir == NULL) return -errno;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] < '1' || name[0] > '9') continue;
        unsigned int pid = 0;
        for (; *name >= '0' && *name <= '9'; name++) pid = pid * 10 + (unsigned int)(*name - '0');
        if (*name != '\0') continue;
        if (count == max) {
            closedir(dir);
            return max + 1;
        }
        out[2 * count] = pid;
        out[2 * count + 1] = (unsigned int)entry->d_ino;
        count++;
    }
    closedir(dir);
    return count;
}

/* ---------------------------------------------------------------------------------- */
/* Reading every service leaf's cgroup.procs in one call (a status lists them all).    */

/*
 * Reads each of the n open cgroup.procs files in fds from offset 0 (a read at 0 makes the
 * kernel list the leaf afresh) to its end, and writes the pids it lists into out, one leaf
 * after the other: counts[i] gets how many are fds[i]'s, or -errno when it could not be
 * read (ENODEV: the leaf was removed). A pid that reads 0 (a process in a PID namespace
 * that is not ours nor a child of ours) is left out: it is not tend's to signal.
 * Returns the number of pids written; `max` + 1 when out was too small (call again with
 * more room). From JavaScript, a leaf cost two readSync calls (the listing, then the read
 * that finds its end): ~7 ms for 1,000 leaves, where the same reads from C take 1.4-2 ms.
 */
int tend_read_pids(const int32_t *fds, int n, int32_t *out, int max, int32_t *counts) {
    char buf[16384];
    int total = 0;
    for (int i = 0; i < n; i++) {
        int start = total, count = 0;
        int32_t pid = 0;
        off_t offset = 0;
        for (;;) {
            ssize_t got = pread(fds[i], buf, sizeof buf, offset);
            if (got < 0) {
                if (errno == EINTR) continue;
                count = -errno;
                total = start; /* what was listed of a leaf that failed is dropped */
                pid = 0;
                break;
            }
            if (got == 0) break;
            offset += got;
            for (ssize_t k = 0; k < got; k++) {
                char c = buf[k];
                if (c == '\n') {
                    if (pid > 0) {
                        if (total == max) return max + 1;
                        out[total++] = pid;
                        count++;
                    }
                    pid = 0;
                } else if (c >= '0' && c <= '9') {
                    pid = pid * 10 + (c - '0');
                }
            }
        }
        if (count >= 0 && pid > 0) {
            if (total == max) return max + 1;
            out[total++] = pid;
            count++;
        }
        counts[i] = count;
    }
    return total;
}


/*
 * The children of every thread of `pid` (0: this process), from
 * /proc/PID/task/TID/children, into `out`: their count, or max + 1 when they do not fit
 * (call again with more room), or -errno when the task directory cannot be listed. A
 * `status` of 1,000 services asks for tend's children to find the orphans among them:
 * from JavaScript that was a readdir, a readFileSync per thread and the parsing, ~1 ms.
 * A thread that ends meanwhile is skipped (its children file is gone).
 */
int tend_children(int pid, int32_t *out, int max) {
    char path[320];
    if (pid <= 0) pid = getpid();
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *dir = opendir(path);
    if (dir == NULL) return -errno;
    char buf[16384];
    int total = 0;
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%d/task/%s/children", pid, d->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        int32_t child = 0;
        for (;;) {
            ssize_t got = read(fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            for (ssize_t k = 0; k < got; k++) {
                char c = buf[k];
                if (c >= '0' && c <= '9') {
                    child = child * 10 + (c - '0');
                } else if (child > 0) {
                    if (total == max) { close(fd); closedir(dir); return max + 1; }
                    out[total++] = child;
                    child = 0;
                }
            }
        }
        if (child > 0) {
            if (total == max) { close(fd); closedir(dir); return max + 1; }
            out[total++] = child;
        }
        close(fd);
    }
    closedir(dir);
    return total;
}
