/*
 * How libtend starts its helper threads (the reaper, the OOM notices, each datagram
 * receiver, the signal intake): detached, since nothing joins them (each ends with the
 * process), on a 64 KiB stack, since each only sleeps in one system call and copies a few
 * records to a pipe, and with every signal blocked from its first instruction, since
 * signals are the event loop's (or the intake's, which takes them with sigwaitinfo). The
 * mask is set in the calling thread around pthread_create and inherited by the new one: a
 * thread that blocked signals itself would leave a window, before it ran, in which the
 * kernel could pick it for a signal sent to the process. sigfillset leaves out glibc's own
 * real-time signals (thread cancellation and setxid), which must stay deliverable. Each
 * is named (tend-reaper, tend-signals...) so that `top -H` and /proc tell them apart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include "thread.h"

struct start {
    const char *name;
    void *(*main)(void *);
    void *arg;
};

/* Names the thread from inside it (a detached thread's handle may be gone by the time its creator could). */
static void *named(void *p) {
    struct start start = *(struct start *)p;
    free(p);
    prctl(PR_SET_NAME, start.name); /* a name is only a help: its failure is not */
    return start.main(start.arg);
}

int tend_start_thread(const char *name, void *(*main)(void *), void *arg) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    struct start *start = malloc(sizeof *start);
    int err = ENOMEM;
    if (start != NULL) {
        *start = (struct start){.name = name, .main = main, .arg = arg};
        pthread_t thread;
        err = pthread_create(&thread, &attr, named, start);
        if (err != 0) free(start);
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}
