/*
 * Unix datagram receivers: the sd_notify socket (NOTIFY_SOCKET: READY=1, STATUS=...,
 * WATCHDOG=1...) and the syslog socket (/dev/log). Node has neither datagram Unix sockets
 * nor SCM_CREDENTIALS, so this file receives them, with the sender's credentials as the
 * kernel states them (SO_PASSCRED: the pid cannot be forged by the sender, short of
 * CAP_SYS_ADMIN), and hands them to the event loop.
 *
 * A sender is often gone by the time the event loop looks (systemd-notify and logger send
 * and exit), so the thread reads the sender's ancestry from /proc at once, while its parent
 * still waits for it: the loop attributes the message to the service that owns the sender
 * or the nearest ancestor it owns. A syslog flood comes from one sender: its ancestry is
 * read once per 100 ms, not once per message.
 *
 * One thread per socket sleeps in recvmsg. What it does with a datagram depends on the kind:
 *   - notify: it queues it (bounded; when the event loop falls behind, the newest are
 *     dropped and counted: a late READY=1 is worth less than a stalled sender) and wakes
 *     the loop through a pipe, as the reaper does; the loop drains the queue with
 *     tend_dgram_drain.
 *   - syslog: it writes it, as a record, into a pipe the loop reads as a stream — a flood
 *     costs no call into libtend per batch, and flow control is the kernel's: when the loop
 *     stops reading (its writers are backed up), the pipe fills, this thread waits in
 *     write(), the socket's queue fills and the senders' send() waits, as it does for a
 *     busy syslogd. Nothing is lost.
 * Nothing here blocks the event loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "thread.h"

#define ANCESTORS 8          /* parents of the sender read at once, nearest first */
#define RECEIVERS 4          /* sockets per tend: notify, syslog, room to spare */
#define HEADER 32            /* bytes before a record's ancestors in tend_dgram_drain's output */

/*
 * The sender's pidfd (SO_PASSPIDFD, Linux 6.5) and what the kernel says of it
 * (PIDFD_GET_INFO, 6.13): its cgroup even once it has exited and been reaped (6.15, with
 * SCM_PIDFD for reaped senders from 6.17) — what a short-lived `logger` leaves behind, where
 * /proc has nothing any more. Defined here: older headers lack them, and older kernels
 * answer ENOPROTOOPT, EINVAL or ESRCH, which leaves the /proc ancestry alone to go on.
 */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif
struct tend_pidfd_info {     /* struct pidfd_info, its first version (64 bytes) */
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
#define TEND_PIDFD_GET_INFO _IOWR(0xFF, 11, struct tend_pidfd_info)
#define TEND_PIDFD_INFO_CGROUPID (1ULL << 2)
#define TEND_PIDFD_INFO_EXIT (1ULL << 3)

/* The cgroup id (the inode of its cgroup v2 directory) of the process behind `pidfd`, or 0. */
static uint64_t cgroup_of(int pidfd) {
    struct tend_pidfd_info info;
    memset(&info, 0, sizeof info);
    info.mask = TEND_PIDFD_INFO_CGROUPID | TEND_PIDFD_INFO_EXIT;
    if (ioctl(pidfd, TEND_PIDFD_GET_INFO, &info) != 0) return 0;
    return (info.mask & TEND_PIDFD_INFO_CGROUPID) ? info.cgroupid : 0;
}

enum { KIND_NOTIFY = 0, KIND_SYSLOG = 1 };

typedef struct entry {
    struct entry *next;
    int32_t pid, uid;        /* pid 0: the kernel attached no credentials */
    int32_t len;             /* bytes kept in text */
    int32_t sent;            /* bytes the sender sent (more than len: cut) */
    int32_t nancestors;
    int32_t ancestors[ANCESTORS];
    uint64_t cgroup;         /* the sender's cgroup id (SCM_PIDFD), 0: not known */
    char text[];
} entry;

typedef struct {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int kind;
    size_t keep;             /* bytes of one datagram kept */
    size_t max_count, max_bytes;
    pthread_mutex_t lock;
    pthread_cond_t room;
    entry *head, *tail;
    size_t count, bytes;
    uint64_t dropped, cut;
    int sock, wake_read, wake_write;
    char *buffer;            /* the receiving thread's: one datagram (notify), a batch of records (syslog) */
    size_t buffer_size;
    int32_t cached_pid, cached_n;
    int32_t cached[ANCESTORS];
    struct timespec cached_at;
    uint64_t cached_cgroup;  /* syslog: the cached sender's cgroup id (0: not known) */
    char cgroup_mount[256];  /* syslog: where cgroup v2 is mounted ("": not known) */
} receiver;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static receiver *receivers[RECEIVERS];

/* /proc/PID/NAME into buffer, NUL-terminated: its length, or 0 (gone, unreadable, empty). */
static ssize_t read_proc(int32_t pid, const char *name, char *buffer, size_t size) {
    char path[48];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buffer, size - 1);
    close(fd);
    if (n <= 0) return 0;
    buffer[n] = '\0';
    return n;
}

/* The parent of `pid` from /proc/PID/stat (the field after the command, which may hold ") "). */
static int32_t parent_of(int32_t pid) {
    char buffer[512];
    if (read_proc(pid, "stat", buffer, sizeof buffer) == 0) return 0;
    char *end = strrchr(buffer, ')');
    if (end == NULL || end[1] == '\0' || end[2] == '\0') return 0;
    int ppid = 0;
    if (sscanf(end + 2, "%*c %d", &ppid) != 1) return 0;
    return ppid;
}

/*
 * The cgroup id of a live `pid` — its cgroup v2 directory's inode, as PIDFD_GET_INFO
 * names it — read from /proc/PID/cgroup while the sender lives (any kernel), or 0.
 */
static uint64_t cgroup_of_pid(receiver *r, int32_t pid) {
    if (r->cgroup_mount[0] == '\0') return 0;
    char buffer[1024];
    if (read_proc(pid, "cgroup", buffer, sizeof buffer) == 0) return 0;
    char *line = strstr(buffer, "0::");
    if (line == NULL || (line != buffer && line[-1] != '\n')) return 0;
    line += 3;
    char *end = strchr(line, '\n');
    if (end != NULL) *end = '\0';
    char full[sizeof r->cgroup_mount + sizeof buffer];
    snprintf(full, sizeof full, "%s%s", r->cgroup_mount, line);
    struct stat st;
    return stat(full, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int ancestry(receiver *r, int32_t pid, int32_t *out) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long age_ms = (now.tv_sec - r->cached_at.tv_sec) * 1000 + (now.tv_nsec - r->cached_at.tv_nsec) / 1000000;
    if (r->kind == KIND_SYSLOG && pid > 0 && pid == r->cached_pid && age_ms < 100) {
        memcpy(out, r->cached, sizeof(int32_t) * (size_t)r->cached_n);
        return r->cached_n;
    }
    r->cached_cgroup = 0;
    if (r->kind == KIND_SYSLOG && pid > 0) r->cached_cgroup = cgroup_of_pid(r, pid);
    int n = 0;
    for (int32_t p = pid; p > 1 && n < ANCESTORS;) {
        p = parent_of(p);
        if (p <= 0) break;
        out[n++] = p;
    }
    r->cached_pid = pid;
    r->cached_n = n;
    memcpy(r->cached, out, sizeof(int32_t) * (size_t)n);
    r->cached_at = now;
    return n;
}

/* The sender's credentials, and closes what came along (fds: FDSTORE=1 is not kept). */
static void credentials(struct msghdr *msg, int32_t *pid, int32_t *uid, uint64_t *cgroup) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            *pid = cred.pid;
            *uid = (int32_t)cred.uid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_PIDFD && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int pidfd;
            memcpy(&pidfd, CMSG_DATA(c), sizeof pidfd);
            if (pidfd >= 0) {
                if (cgroup != NULL) *cgroup = cgroup_of(pidfd);
                close(pidfd);
            }
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < nfds; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
        }
    }
}

typedef union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(int) * 16)];
} control_buffer;

/* One datagram: its bytes at `text` (room for keep + 1), its credentials. Returns its length, or -1 (errno). */
static ssize_t receive_one(receiver *r, char *text, int flags, control_buffer *control, int32_t *pid, int32_t *uid, uint64_t *cgroup) {
    struct iovec iov = {text, text == NULL ? 0 : r->keep + 1};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control->space;
    msg.msg_controllen = sizeof control->space;
    /* MSG_TRUNC: the datagram's real length, even when it is longer than the buffer. */
    ssize_t n = recvmsg(r->sock, &msg, MSG_CMSG_CLOEXEC | MSG_TRUNC | flags);
    if (n >= 0) credentials(&msg, pid, uid, cgroup);
    return n;
}

/* Whether /proc still has `pid` (ancestry() found its parent, or it is 1). */
static int alive(int32_t pid, int nancestors) {
    return pid == 1 || nancestors > 0;
}

/*
 * syslog: datagrams become records written into the pipe, up to 64 per write under a
 * flood. Each is first peeked at for its sender's pid, whose ancestry and cgroup are read
 * at once (while /proc has them: a service's own process that exits right after sending
 * has no parent left that says whose it was, but its cgroup does) and cached for 100 ms.
 * Only a sender already gone by then is received with its pidfd (SO_PASSPIDFD, switched on
 * for that one), whose cgroup the kernel keeps after the reap (Linux 6.17). A pidfd per
 * message would cost a third of a flood's system time.
 */
static void receive_syslog(receiver *r, char *batch, size_t room) {
    control_buffer control;
    for (;;) {
        size_t used = 0;
        for (int k = 0; k < 64; k++) {
            int32_t pid = 0, uid = -1;
            uint64_t cgroup = 0;
            int wait = k == 0 ? 0 : MSG_DONTWAIT;
            ssize_t n = receive_one(r, NULL, MSG_PEEK | wait, &control, &pid, &uid, NULL);
            if (n < 0) {
                if (errno == EINTR) { k--; continue; }
                if (errno != EAGAIN) usleep(10000); /* ENOMEM, ENOBUFS: try again shortly */
                break;
            }
            size_t kept = (size_t)n > r->keep ? r->keep : (size_t)n;
            int32_t ancestors[ANCESTORS];
            int nancestors = ancestry(r, pid, ancestors);
            if (used + HEADER + 4 * ANCESTORS + r->keep + 1 > room) break; /* next write's */
            char *record = batch + used;
            char *text = record + HEADER + 4 * nancestors;
            int peeked = pid;
            int pidfd = pid > 0 && !alive(pid, nancestors);
            int on = 1, off = 0;
            if (pidfd) setsockopt(r->sock, SOL_SOCKET, SO_PASSPIDFD, &on, sizeof on);
            n = receive_one(r, text, MSG_DONTWAIT, &control, &pid, &uid, &cgroup);
            if (pidfd) setsockopt(r->sock, SOL_SOCKET, SO_PASSPIDFD, &off, sizeof off);
            if (n < 0) break;
            if (pid == peeked && pidfd) r->cached_cgroup = cgroup;
            else if (pid == peeked) cgroup = r->cached_cgroup;
            kept = (size_t)n > r->keep ? r->keep : (size_t)n;
            int32_t header[6] = {pid, uid, (int32_t)kept, n > INT32_MAX ? INT32_MAX : (int32_t)n, nancestors, 0};
            memcpy(record, header, sizeof header);
            memcpy(record + sizeof header, &cgroup, sizeof cgroup);
            memcpy(record + HEADER, ancestors, 4 * (size_t)nancestors);
            used += HEADER + 4 * (size_t)nancestors + kept;
        }
        char *at = batch;
        while (used > 0) {
            ssize_t w = write(r->wake_write, at, used);
            if (w < 0) {
                if (errno == EINTR) continue;
                break; /* the loop closed its end: tend is exiting */
            }
            at += w;
            used -= (size_t)w;
        }
    }
}

/* sd_notify: datagrams queue for tend_dgram_drain; one byte on the pipe when the queue was empty. */
static void receive_notify(receiver *r) {
    control_buffer control;
    for (;;) {
        int32_t pid = 0, uid = -1;
        ssize_t n = receive_one(r, r->buffer, 0, &control, &pid, &uid, NULL);
        if (n < 0) {
            if (errno != EINTR) usleep(10000); /* ENOMEM, ENOBUFS: try again shortly */
            continue;
        }
        int32_t ancestors[ANCESTORS];
        int nancestors = ancestry(r, pid, ancestors); /* first: the sender may be reaped any moment */
        size_t kept = (size_t)n > r->keep ? r->keep : (size_t)n;
        entry *e = malloc(sizeof *e + kept);
        pthread_mutex_lock(&r->lock);
        int wake = 0;
        if (e == NULL || r->count >= r->max_count || (r->count > 0 && r->bytes + kept > r->max_bytes)) {
            r->dropped++;
            free(e);
        } else {
            e->next = NULL;
            e->pid = pid;
            e->uid = uid;
            e->len = (int32_t)kept;
            e->sent = n > INT32_MAX ? INT32_MAX : (int32_t)n;
            e->cgroup = 0;
            e->nancestors = nancestors;
            memcpy(e->ancestors, ancestors, sizeof(int32_t) * (size_t)nancestors);
            memcpy(e->text, r->buffer, kept);
            if (kept < (size_t)n) r->cut++;
            if (r->tail == NULL) r->head = e;
            else r->tail->next = e;
            r->tail = e;
            r->count++;
            r->bytes += kept;
            wake = r->count == 1;
        }
        pthread_mutex_unlock(&r->lock);
        if (wake) {
            ssize_t ignored = write(r->wake_write, "", 1);
            (void)ignored;
        }
    }
}

static void *receive(void *arg) {
    receiver *r = arg;
    /*
     * The sender's ancestry is a race against its parent reaping it (`logger` in a script
     * sends, exits and is reaped at once): on a busy machine this thread must run before
     * that parent does. Where tend may (CAP_SYS_NICE), this thread alone is nice -20; it
     * sleeps in recvmsg otherwise, so it takes the CPU only when a message comes.
     */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -20) != 0) { /* not allowed: it races at the default priority */ }
    if (r->kind == KIND_SYSLOG) receive_syslog(r, r->buffer, r->buffer_size);
    else receive_notify(r);
    return NULL;
}

/*
 * Whether a syslog path may be taken: a missing file is fine (bind creates it; a missing
 * directory is bind's ENOENT); a socket nobody receives on is a leftover, removed; a live
 * one is another receiver's (EADDRINUSE); anything else is not a socket and is left alone
 * (EEXIST) — tend never deletes a file it did not make.
 */
static int claim_path(const char *path, const struct sockaddr_un *addr, socklen_t addrlen) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : errno;
    if (!S_ISSOCK(st.st_mode)) return EEXIST;
    int probe = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return errno;
    int live = connect(probe, (const struct sockaddr *)addr, addrlen) == 0;
    int err = live ? EADDRINUSE : errno;
    close(probe);
    if (live) return EADDRINUSE;
    if (err != ECONNREFUSED) return err;
    return unlink(path) == 0 || errno == ENOENT ? 0 : errno;
}

/*
 * Opens a receiver on `path` ("@name": Linux's abstract namespace, no file) and starts its
 * thread. `kind` 0: sd_notify (4 KiB kept per datagram, drop when full); 1: syslog (64 KiB
 * kept, wait when full; `cgroup_mount`, where cgroup v2 is mounted or "", names the
 * senders' cgroups). Returns the receiver's number for tend_dgram_fd and
 * tend_dgram_drain, or -errno. The same path opened again returns the same receiver.
 */
int tend_dgram_open(const char *path, int kind, const char *cgroup_mount) {
    if (kind != KIND_NOTIFY && kind != KIND_SYSLOG) return -EINVAL;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof addr.sun_path) return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, len);
    int abstract = path[0] == '@';
    if (abstract) addr.sun_path[0] = '\0';
    socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 0 : 1));

    pthread_mutex_lock(&table_lock);
    int slot = -1;
    for (int i = 0; i < RECEIVERS; i++) {
        if (receivers[i] != NULL && strcmp(receivers[i]->path, path) == 0) {
            pthread_mutex_unlock(&table_lock);
            return receivers[i]->kind == kind ? i : -EADDRINUSE;
        }
        if (receivers[i] == NULL && slot < 0) slot = i;
    }
    if (slot < 0) {
        pthread_mutex_unlock(&table_lock);
        return -EMFILE;
    }
    int err = 0, fd = -1, fds[2] = {-1, -1};
    receiver *r = calloc(1, sizeof *r);
    if (r == NULL) err = ENOMEM;
    if (err == 0) {
        memcpy(r->path, path, len + 1);
        if (cgroup_mount != NULL && strlen(cgroup_mount) < sizeof r->cgroup_mount) strcpy(r->cgroup_mount, cgroup_mount);
        r->kind = kind;
        r->keep = kind == KIND_SYSLOG ? 64 * 1024 : 4096;
        r->max_count = kind == KIND_SYSLOG ? 16384 : 1024;
        r->max_bytes = kind == KIND_SYSLOG ? 8 * 1024 * 1024 : 1024 * 4096;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->room, NULL);
        r->cached_pid = -1;
        /* syslog: a batch of records, and room for one of the largest after it. */
        r->buffer_size = kind == KIND_SYSLOG ? 256 * 1024 + HEADER + 4 * ANCESTORS + r->keep + 1 : r->keep + 1;
        if ((r->buffer = malloc(r->buffer_size)) == NULL) err = ENOMEM;
    }
    if (err == 0 && !abstract) {
        if (kind == KIND_SYSLOG) err = claim_path(path, &addr, addrlen);
        else unlink(path); /* left by an earlier tend: the path is tend's */
    }
    if (err == 0 && (fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) err = errno;
    int on = 1;
    if (err == 0 && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) err = errno;
    if (err == 0 && bind(fd, (struct sockaddr *)&addr, addrlen) != 0) err = errno;
    /* Any user may send (a service may run as one): the sender's credentials decide. */
    if (err == 0 && !abstract && chmod(path, 0666) != 0) err = errno;
    /* syslog: the write end blocks (that is the flow control); a bigger pipe absorbs bursts. */
    if (err == 0 && pipe2(fds, O_CLOEXEC | (kind == KIND_SYSLOG ? 0 : O_NONBLOCK)) != 0) err = errno;
    if (err == 0 && kind == KIND_SYSLOG) {
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
        fcntl(fds[1], F_SETPIPE_SZ, 1024 * 1024); /* as much as allowed; 64 KiB otherwise */
    }
    if (err == 0) {
        r->sock = fd;
        r->wake_read = fds[0];
        r->wake_write = fds[1];
        err = tend_start_thread("tend-dgram", receive, r);
        if (err != 0 && !abstract) unlink(path);
    }
    if (err != 0) {
        if (fd >= 0) close(fd);
        if (fds[0] >= 0) close(fds[0]);
        if (fds[1] >= 0) close(fds[1]);
        if (r != NULL) free(r->buffer);
        free(r);
        pthread_mutex_unlock(&table_lock);
        return -err;
    }
    receivers[slot] = r;
    pthread_mutex_unlock(&table_lock);
    return slot;
}

/*
 * The fd the event loop reads: notify, one byte when the queue was empty (then
 * tend_dgram_drain); syslog, the records themselves, laid out as tend_dgram_drain's.
 */
int tend_dgram_fd(int id) {
    if (id < 0 || id >= RECEIVERS || receivers[id] == NULL) return -EBADF;
    return receivers[id]->wake_read;
}

/*
 * Moves at most `max` waiting messages into `out` (room for `cap` bytes), each as int32s —
 * pid, uid, bytes kept, bytes sent, number of ancestors, 0 — and the sender's cgroup id
 * (uint64, 0: not known), then the ancestors (int32 each), then the bytes kept. counts[0] = messages written, counts[1] = messages still
 * waiting (call again), counts[2] = messages dropped since the last call (no room),
 * counts[3] = messages cut since the last call (longer than what is kept). Returns the
 * bytes written.
 */
int tend_dgram_drain(int id, uint8_t *out, int cap, int max, int32_t *counts) {
    if (id < 0 || id >= RECEIVERS || receivers[id] == NULL) return -EBADF;
    receiver *r = receivers[id];
    pthread_mutex_lock(&r->lock);
    int used = 0, written = 0;
    while (r->head != NULL && written < max) {
        entry *e = r->head;
        int need = HEADER + 4 * e->nancestors + e->len;
        if (used + need > cap) break;
        int32_t header[6] = {e->pid, e->uid, e->len, e->sent, e->nancestors, 0};
        memcpy(out + used, header, sizeof header);
        memcpy(out + used + sizeof header, &e->cgroup, sizeof e->cgroup);
        memcpy(out + used + HEADER, e->ancestors, 4 * (size_t)e->nancestors);
        memcpy(out + used + HEADER + 4 * e->nancestors, e->text, (size_t)e->len);
        used += need;
        written++;
        r->head = e->next;
        if (r->head == NULL) r->tail = NULL;
        r->count--;
        r->bytes -= (size_t)e->len;
        free(e);
    }
    counts[0] = written;
    counts[1] = (int32_t)r->count;
    counts[2] = (int32_t)(r->dropped > INT32_MAX ? INT32_MAX : r->dropped);
    counts[3] = (int32_t)(r->cut > INT32_MAX ? INT32_MAX : r->cut);
    r->dropped = 0;
    r->cut = 0;
    if (written > 0) pthread_cond_broadcast(&r->room);
    pthread_mutex_unlock(&r->lock);
    return used;
}
