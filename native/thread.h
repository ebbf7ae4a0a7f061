/* libtend's helper threads: see thread.c. */
#ifndef TEND_THREAD_H
#define TEND_THREAD_H

/*
 * Starts `main(arg)` on a detached thread named `name` (≤ 15 bytes: what `top -H` and
 * /proc/PID/task/TID/comm show) with every signal blocked; 0 or an errno.
 */
int tend_start_thread(const char *name, void *(*main)(void *), void *arg);

#endif
