/*
 * The exec helper's numeric arguments, read the same way by the helper (native/tend-exec.c)
 * and by libtend's direct path (native/libtend.c), which does the helper's steps itself
 * when it can and must refuse exactly what the helper would refuse.
 */
#ifndef TEND_EXEC_ARGS_H
#define TEND_EXEC_ARGS_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An id or fd number: decimal digits only (no sign, no space), below 2^32 - 1 ((uid_t)-1). */
static inline int exec_arg_id(const char *text, unsigned long *out) {
    char *end;
    if (*text < '0' || *text > '9') return 0;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > 0xfffffffeUL) return 0;
    *out = value;
    return 1;
}

/* An rlimit: "unlimited" (UINT64_MAX, which is RLIM_INFINITY on Linux), or decimal bytes/fds. */
static inline int exec_arg_limit(const char *text, uint64_t *out) {
    if (strcmp(text, "unlimited") == 0) { *out = UINT64_MAX; return 1; }
    char *end;
    if (*text < '0' || *text > '9') return 0;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') return 0;
    *out = value;
    return 1;
}
#endif
