/*
 * libtend: the native half of tend's process layer. It owns three kernel resources that
 * must have exactly one owner in a PID 1:
 *
 *   - starting processes: tend_spawn, posix_spawn of the exec helper (glibc's posix_spawn
 *     is clone(CLONE_VM|CLONE_VFORK): no copy of Node's page tables, and an exec failure
 *     comes back as an errno instead of a child that exits);
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
 * Every function is called from the event loop's thread through ffi-rs, and none blocks.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the event loop's */
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
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int err = pthread_create(&thread, &attr, reaper_main, NULL);
    pthread_attr_destroy(&attr);
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
 * Starts a program. `group`: TEND_SPAWN_SESSION, TEND_SPAWN_GROUP or 0 (tend's group).
 * `strings` holds, each ending in a NUL byte, the program's path, then
 * `argc` arguments, then `envc` environment entries (one buffer: ffi-rs copies a buffer
 * in one go, and string arrays would need their own terminating NULL). fds[i] becomes
 * the child's fd i for i < nfds (-1: fd i closed). Everything else tend has open is
 * close-on-exec, and the exec helper closes whatever a library leaked. The pid enters the
 * table before the reaper can look at it, so its exit is never mistaken for an orphan's.
 * Returns the pid, or -errno when nothing was started.
 */
static int spawn_program(const char *path, char *const argv[], char *const envp[], const int32_t *fds, int nfds, int group);

#define TEND_SPAWN_SESSION 1 /* the child leads a new session (and its process group) */
#define TEND_SPAWN_GROUP 2   /* the child leads a new process group in tend's session */

int tend_spawn(const char *strings, int argc, int envc, const int32_t *fds, int nfds, int group) {
    if (argc < 1 || envc < 0) return -EINVAL;
    char **vector = calloc((size_t)argc + (size_t)envc + 2, sizeof *vector);
    if (vector == NULL) return -ENOMEM;
    const char *path = strings;
    const char *next = strings + strlen(strings) + 1;
    for (int i = 0; i < argc + envc; i++) {
        vector[i < argc ? i : i + 1] = (char *)next;
        next += strlen(next) + 1;
    }
    /* vector[argc] stays NULL: it ends argv; the environment starts after it. */
    int result = spawn_program(path, vector, vector + argc + 1, fds, nfds, group);
    free(vector);
    return result;
}

static int spawn_program(const char *path, char *const argv[], char *const envp[], const int32_t *fds, int nfds, int group) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int err = posix_spawn_file_actions_init(&actions);
    if (err != 0) return -err;
    /* A source below nfds that goes elsewhere would be overwritten by an earlier move:
     * such sources are first copied, in tend, above the range (close-on-exec, closed again
     * after the spawn). Only identity moves (0→0 for an inherited stdio) stay below it. */
    int source[64], copied[64];
    if (nfds > 64) nfds = 64;
    for (int i = 0; i < nfds; i++) {
        source[i] = fds[i];
        copied[i] = -1;
        if (fds[i] >= 0 && fds[i] < nfds && fds[i] != i) {
            copied[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, nfds);
            if (copied[i] < 0 && err == 0) err = errno;
            source[i] = copied[i];
        }
    }
    /* dup2 onto the target clears close-on-exec; dup2 of an fd onto itself does too in
     * posix_spawn (glibc 2.29, as POSIX.1-2024 asks). */
    for (int i = 0; i < nfds && err == 0; i++) {
        if (source[i] >= 0) err = posix_spawn_file_actions_adddup2(&actions, source[i], i);
        else err = posix_spawn_file_actions_addclose(&actions, i);
    }
    if (err == 0) err = posix_spawnattr_init(&attr);
    if (err != 0) {
        posix_spawn_file_actions_destroy(&actions);
        for (int i = 0; i < nfds; i++)
            if (copied[i] >= 0) close(copied[i]);
        return -err;
    }
    /* The helper starts with no blocked signal and every disposition at its default: the
     * event loop's handlers and mask are not the service's. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    /* sigfillset leaves out glibc's own real-time signals (32, 33), and posix_spawn then
     * sets them to SIG_IGN in the child when tend has a handler for them — an ignored
     * disposition that exec keeps and that the helper cannot undo through libc. In the
     * set, posix_spawn resets them to SIG_DFL like every other signal. sigaddset refuses
     * them, so their bits (signal N is bit N-1) are set directly. */
    for (int sig = 32; sig < SIGRTMIN; sig++)
        ((unsigned long *)&all)[(sig - 1) / (8 * sizeof(unsigned long))] |= 1UL << ((sig - 1) % (8 * sizeof(unsigned long)));
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

    pid_t pid = -1;
    pthread_mutex_lock(&lock);
    /* Room first: a pid that cannot be recorded must not be started. */
    if ((table_used + 1) * 2 > table_size && table_grow() != 0) err = ENOMEM;
    if (err == 0) err = posix_spawn(&pid, path, &actions, &attr, argv, envp);
    if (err == 0) {
        table_insert(pid);
        child_news++;
        if (reaper_parked) pthread_cond_signal(&wake_reaper);
    }
    pthread_mutex_unlock(&lock);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < nfds; i++)
        if (copied[i] >= 0) close(copied[i]);
    return err == 0 ? pid : -err;
}

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
 * that finds its end) — 7 µs a leaf, ~7 ms a status at 1,000 services, three quarters of
 * it the calls themselves rather than the kernel's listing.
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
