/*
 * OOM-kill notifications from cgroup v1 memory leaves. A process the kernel's OOM killer
 * ends inside a service is named by tend when it is the process tend started (its exit is
 * reaped and the leaf's oom_kill count has risen); a worker under a master is reaped by
 * its master, so tend would only ever see the count change. cgroup v1 tells of an OOM
 * through an eventfd registered with cgroup.event_control — an fd libuv cannot watch —
 * so one thread sleeps in epoll_wait on every registered eventfd and passes the token of
 * the one that fired to the event loop through a pipe, which the loop reads like any
 * stream. (cgroup v2 needs none of this: its memory.events is watched with inotify.)
 *
 * The thread is started on the first registration; with no memory limit it never exists.
 * A token is written whole (4 bytes, under PIPE_BUF, so never split); when the loop is
 * so far behind that the pipe is full, the token is dropped — the loop re-reads the
 * count at the next one, which says how many kills it missed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "thread.h"

static pthread_mutex_t oom_lock = PTHREAD_MUTEX_INITIALIZER;
static int epoll_fd = -1;
static int pipe_read = -1, pipe_write = -1;

static void *oom_main(void *unused) {
    (void)unused;
    struct epoll_event events[16];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 16, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            int32_t token = (int32_t)events[i].data.u32;
            /* The eventfd is never read here (edge-triggered: each notification is an edge
             * of its own), so a handle the loop closes meanwhile is never touched. */
            ssize_t ignored = write(pipe_write, &token, sizeof token);
            (void)ignored;
        }
    }
}

/* Starts the thread once; returns the pipe's read end, or -errno. Called under oom_lock. */
static int oom_start(void) {
    if (epoll_fd >= 0) return pipe_read;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -errno;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    epoll_fd = ep;
    int err = tend_start_thread("tend-oom", oom_main, NULL);
    if (err != 0) {
        epoll_fd = -1;
        close(ep);
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    pipe_read = fds[0];
    pipe_write = fds[1];
    return pipe_read;
}

/* The pipe the event loop reads tokens from (the thread started if need be), or -errno. */
int tend_oom_pipe(void) {
    pthread_mutex_lock(&oom_lock);
    int fd = oom_start();
    pthread_mutex_unlock(&oom_lock);
    return fd;
}

/*
 * Registers for OOM notifications of the v1 memory cgroup `dir` (memory.oom_control, through
 * its cgroup.event_control); a notification sends `token` down the pipe. Returns a handle
 * for tend_oom_unwatch (the eventfd), or -errno.
 */
int tend_oom_watch_v1(const char *dir, int32_t token) {
    char path[4096];
    pthread_mutex_lock(&oom_lock);
    int started = oom_start();
    pthread_mutex_unlock(&oom_lock);
    if (started < 0) return started;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return -errno;
    if ((size_t)snprintf(path, sizeof path, "%s/memory.oom_control", dir) >= sizeof path) {
        close(efd);
        return -ENAMETOOLONG;
    }
    int control = open(path, O_RDONLY | O_CLOEXEC);
    if (control < 0) {
        int err = errno;
        close(efd);
        return -err;
    }
    (void)snprintf(path, sizeof path, "%s/cgroup.event_control", dir);
    int events = open(path, O_WRONLY | O_CLOEXEC);
    char line[32];
    int len = snprintf(line, sizeof line, "%d %d", efd, control);
    /* The kernel keeps what it needs of memory.oom_control: that fd can go at once. */
    int ok = events >= 0 && write(events, line, (size_t)len) == len;
    int err = errno;
    if (events >= 0) close(events);
    close(control);
    if (!ok) {
        close(efd);
        return -err;
    }
    struct epoll_event event = {.events = EPOLLIN | EPOLLET, .data.u32 = (uint32_t)token};
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, efd, &event) != 0) {
        err = errno;
        close(efd);
        return -err;
    }
    return efd;
}

/* Ends a registration: closing the eventfd unregisters it from the cgroup too. */
void tend_oom_unwatch(int handle) {
    if (handle < 0 || epoll_fd < 0) return;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, handle, NULL);
    close(handle);
}
