/*
 * libtend: the loops of tend that must run at C speed — reaping, and listing /proc.
 * Loaded through
 * ffi-rs like libc (native/libc.ts), so ffi-rs stays tend's only bridge to native code;
 * one ffi call here replaces two per orphan (waitid + waitpid, ~15 µs each through
 * ffi-rs), which in a 2,000-orphan storm is the difference between ~60 ms and ~2 ms.
 *
 * tend must never reap a child that libuv waits for (it would lose that exit status for
 * good), so waitpid(-1) is out. Instead: peek with waitid(WNOWAIT) at whichever child has
 * ended, and reap exactly that pid unless it is one of libuv's. A zombie of libuv's hides
 * the others behind it; then try each direct child the caller listed, one waitpid each.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#define TEND_REAP_BLOCKED 0x40000000

static int listed(const int *pids, int n, int pid) {
    for (int i = 0; i < n; i++)
        if (pids[i] == pid) return 1;
    return 0;
}

/* Reaps one pid with WNOHANG; records it in out (pid, raw status). 1 if reaped. */
static int reap(int pid, int *out, int *count) {
    int status = 0;
    pid_t got;
    do got = waitpid(pid, &status, WNOHANG);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return 0;
    out[2 * *count] = got;
    out[2 * *count + 1] = status;
    (*count)++;
    return 1;
}

/*
 * skip: libuv's pids (never reaped here). children: tend's direct children, or none when
 * the caller has not listed them yet. out: room for `max` (pid, status) pairs.
 * Returns how many were reaped, with TEND_REAP_BLOCKED set when a zombie of libuv's sat
 * at the head and `children` was empty: call again with the children listed.
 */
int tend_reap(const int *skip, int nskip, const int *children, int nchildren, int *out, int max) {
    int count = 0;
    while (count < max) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR) continue;
            return count; /* ECHILD: no children at all */
        }
        if (info.si_pid == 0) return count; /* children, none ended */
        if (listed(skip, nskip, info.si_pid)) break;
        if (!reap(info.si_pid, out, &count)) break;
    }
    if (count >= max) return count;
    if (nchildren == 0) return count | TEND_REAP_BLOCKED;
    /* A libuv zombie hides the rest: one waitpid per listed child, until a round reaps nothing. */
    for (int progress = 1; progress && count < max;) {
        progress = 0;
        for (int i = 0; i < nchildren && count < max; i++) {
            if (children[i] <= 0 || listed(skip, nskip, children[i])) continue;
            /* A pid reaped in an earlier round just gives ECHILD again: harmless. */
            if (reap(children[i], out, &count)) progress = 1;
        }
    }
    return count;
}

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
