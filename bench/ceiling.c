/*
 * The ceiling of prefixed log throughput on this machine: what a C reader does that reads
 * a pipe with large reads, prefixes each line (memchr + memcpy into one output buffer)
 * and writes the result, with nothing else in between. Measured against `cat` when the
 * goal "prefixed log throughput >= 0.9x cat" was examined (docs/benchmarks.md, "Throughput
 * against cat"): it showed that cat's two modes on a 2-CPU machine are CPU placement, and
 * that even this loop reaches ~0.65x of cat when both share one CPU.
 *
 *   cc -O2 -o /tmp/ceiling bench/ceiling.c
 *   TOOLS=node_modules/.cache/tend-bench/tools   # built by bench/run.mjs (bench/lib/tools.c)
 *   $TOOLS gen 1073741824 /tmp/stamps | taskset -c 0 /tmp/ceiling > /dev/null   # then read S/E in /tmp/stamps
 *
 * Arguments: read size (default 262144), pipe size to set on stdin (1: 256 KiB, 0: leave).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    size_t rsz = argc > 1 ? strtoul(argv[1], 0, 0) : 262144;
    int grow = argc > 2 ? atoi(argv[2]) : 1;
    if (grow) fcntl(0, F_SETPIPE_SZ, grow == 1 ? 262144 : grow);
    const char *prefix = "gen | ";
    size_t pl = strlen(prefix);
    char *in = malloc(rsz + 65536), *out = malloc(rsz * 2 + 65536);
    if (in == NULL || out == NULL) return 1;
    size_t carry = 0;
    for (;;) {
        ssize_t r = read(0, in + carry, rsz);
        if (r < 0) {
            if (errno == EINTR) continue;
            perror("read");
            return 1;
        }
        if (r == 0) break;
        size_t len = carry + (size_t)r;
        char *p = in, *end = in + len, *o = out;
        for (;;) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl) break;
            memcpy(o, prefix, pl);
            o += pl;
            memcpy(o, p, (size_t)(nl + 1 - p));
            o += nl + 1 - p;
            p = nl + 1;
        }
        carry = (size_t)(end - p);
        memmove(in, p, carry);
        size_t n = (size_t)(o - out), off = 0;
        while (off < n) {
            ssize_t w = write(1, out + off, n - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                return 2;
            }
            off += (size_t)w;
        }
    }
    return 0;
}
