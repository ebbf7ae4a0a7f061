/*
 * The sd_notify socket: a Unix datagram socket (NOTIFY_SOCKET) on which services send
 * READY=1, STATUS=..., MAINPID=..., WATCHDOG=1... Node has neither datagram Unix sockets
 * nor SCM_CREDENTIALS, so this file receives them, with the sender's credentials as the
 * kernel states them (SO_PASSCRED: the pid cannot be forged by the sender, short of
 * CAP_SYS_ADMIN), and hands them to the event loop.
 *
 * A sender is often gone by the time the event loop looks (systemd-notify sends and
 * exits), so the thread reads the sender's ancestry from /proc at once, while its parent
 * still waits for it: the loop attributes the message to the service that owns the sender
 * or the nearest ancestor it owns.
 *
 * One thread per socket sleeps in recvmsg and queues each datagram (bounded: when the
 * event loop falls behind, the newest are dropped and counted); it wakes the loop through
 * a pipe, as the reaper does. The loop drains the queue with tend_notify_drain. Nothing
 * here blocks the event loop.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_MAX 4096      /* bytes of one datagram kept (systemd's limit is larger; longer is cut) */
#define QUEUE_MAX 1024       /* datagrams waiting for the event loop */

#define ANCESTORS 8          /* parents of the sender read at once, nearest first */

typedef struct {
    int32_t pid, uid;        /* pid 0: the kernel attached no credentials */
    int32_t len;
    int32_t nancestors;
    int32_t ancestors[ANCESTORS];
    char text[NOTIFY_MAX];
} message;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static message *queue;       /* a ring of QUEUE_MAX */
static size_t head, count;
static uint64_t dropped;
static int sock = -1, wake_read = -1, wake_write = -1;

/* The parent of `pid` from /proc/PID/stat (the field after the command, which may hold ") "). */
static int32_t parent_of(int32_t pid) {
    char path[32], buffer[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (n <= 0) return 0;
    buffer[n] = '\0';
    char *end = strrchr(buffer, ')');
    if (end == NULL || end[1] == '\0' || end[2] == '\0') return 0;
    int ppid = 0;
    if (sscanf(end + 2, "%*c %d", &ppid) != 1) return 0;
    return ppid;
}

static void *receiver(void *unused) {
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the event loop's */
    static char buffer[NOTIFY_MAX];
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    for (;;) {
        struct iovec iov = {buffer, sizeof buffer};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.space;
        msg.msg_controllen = sizeof control.space;
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) continue;
            usleep(10000); /* ENOMEM, ENOBUFS: try again shortly */
            continue;
        }
        int32_t pid = 0, uid = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                struct ucred cred;
                memcpy(&cred, CMSG_DATA(c), sizeof cred);
                pid = cred.pid;
                uid = (int32_t)cred.uid;
            } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                /* fds sent along (FDSTORE=1) are not kept: close them, never leak them. */
                int nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < nfds; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                    close(fd);
                }
            }
        }
        int32_t ancestors[ANCESTORS];
        int nancestors = 0;
        for (int32_t p = pid; p > 1 && nancestors < ANCESTORS;) {
            p = parent_of(p);
            if (p <= 0) break;
            ancestors[nancestors++] = p;
        }
        pthread_mutex_lock(&lock);
        int wake = 0;
        if (count == QUEUE_MAX) {
            dropped++;
        } else {
            message *m = &queue[(head + count) % QUEUE_MAX];
            m->pid = pid;
            m->uid = uid;
            m->len = (int32_t)n;
            memcpy(m->text, buffer, (size_t)n);
            m->nancestors = nancestors;
            memcpy(m->ancestors, ancestors, sizeof(int32_t) * (size_t)nancestors);
            count++;
            wake = count == 1;
        }
        pthread_mutex_unlock(&lock);
        if (wake) {
            ssize_t ignored = write(wake_write, "", 1);
            (void)ignored;
        }
    }
    return NULL;
}

/*
 * Opens the socket at `path` ("@name": Linux's abstract namespace, no file) and starts its
 * receiver. Returns the fd the event loop reads to learn that messages wait, or -errno.
 * Once per process: a second call returns the same fd.
 */
int tend_notify_open(const char *path) {
    pthread_mutex_lock(&lock);
    if (wake_read >= 0) {
        pthread_mutex_unlock(&lock);
        return wake_read;
    }
    int err = 0;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof addr.sun_path) err = ENAMETOOLONG;
    socklen_t addrlen = 0;
    if (err == 0) {
        memcpy(addr.sun_path, path, len);
        if (path[0] == '@') addr.sun_path[0] = '\0';
        else unlink(path); /* left by an earlier tend: the path is tend's */
        addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
    }
    int fd = -1, fds[2] = {-1, -1};
    if (err == 0 && (queue = calloc(QUEUE_MAX, sizeof *queue)) == NULL) err = ENOMEM;
    if (err == 0 && (fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) err = errno;
    int on = 1;
    if (err == 0 && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) err = errno;
    if (err == 0 && bind(fd, (struct sockaddr *)&addr, addrlen) != 0) err = errno;
    /* Any user may send (a service may run as one): the sender's credentials decide. */
    if (err == 0 && path[0] != '@' && chmod(path, 0666) != 0) err = errno;
    if (err == 0 && pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) err = errno;
    if (err == 0) {
        sock = fd;
        wake_read = fds[0];
        wake_write = fds[1];
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 64 * 1024);
        err = pthread_create(&thread, &attr, receiver, NULL);
        pthread_attr_destroy(&attr);
        if (err != 0) {
            sock = wake_read = wake_write = -1;
        }
    }
    if (err != 0) {
        if (fd >= 0) close(fd);
        if (fds[0] >= 0) close(fds[0]);
        if (fds[1] >= 0) close(fds[1]);
        free(queue);
        queue = NULL;
        pthread_mutex_unlock(&lock);
        return -err;
    }
    pthread_mutex_unlock(&lock);
    return wake_read;
}

/*
 * Moves waiting messages into `out` (room for `cap` bytes), each as pid, uid, length,
 * the number of ancestors (int32 each), the ancestors (int32 each), then the bytes. counts[0] = messages written, counts[1] = messages still
 * waiting (call again), counts[2] = messages dropped since the last call (queue full).
 * Returns the bytes written.
 */
int tend_notify_drain(uint8_t *out, int cap, int32_t *counts) {
    pthread_mutex_lock(&lock);
    int used = 0, written = 0;
    while (count > 0) {
        message *m = &queue[head];
        int need = 16 + 4 * m->nancestors + m->len;
        if (used + need > cap) break;
        memcpy(out + used, &m->pid, 4);
        memcpy(out + used + 4, &m->uid, 4);
        memcpy(out + used + 8, &m->len, 4);
        memcpy(out + used + 12, &m->nancestors, 4);
        memcpy(out + used + 16, m->ancestors, 4 * (size_t)m->nancestors);
        memcpy(out + used + 16 + 4 * m->nancestors, m->text, (size_t)m->len);
        used += need;
        written++;
        head = (head + 1) % QUEUE_MAX;
        count--;
    }
    counts[0] = written;
    counts[1] = (int32_t)count;
    counts[2] = (int32_t)(dropped > INT32_MAX ? INT32_MAX : dropped);
    dropped = 0;
    pthread_mutex_unlock(&lock);
    return used;
}
