// The console reader (built into tend-lines.node beside lines.c): one native thread,
// tend-console, that reads the pipes of services whose output goes to tend's console as
// text, splits and prefixes their lines and writes them to tend's stdout or stderr, with
// no event loop in between; and the one writer of those consoles, so tend's own log lines
// and syslog lines (handed over by JavaScript, readerWrite) never land inside a service's
// line.
//
// Why: a service logging as fast as it can spent tend's time in the event loop's pipe
// reads (the pipe mutex contended by the writer), libuv threadpool wake-ups for each
// /dev/null or file write, and prefixing in between (docs/benchmarks.md, "Throughput
// against cat"). This thread reads with large reads, prefixes with memchr and memcpy into
// one output buffer and writes it with one write(): the reader that a C program would be
// (bench/ceiling.c). Only text consoles: json records are made in JavaScript, a socket
// console (systemd's journal) stays with libuv, and so does everything without the addon.
//
// What JavaScript still gets: each route keeps what its service's ring (`tend logs`)
// needs, its *pending* lines, for JavaScript to take (readerTake):
//   - tail mode (the ring alone): the last max_lines lines / max_bytes bytes of what was
//     read, nothing more; JavaScript takes them when someone asks for the ring, or when
//     the pipe ends. No wake-up of the event loop per read.
//   - full mode (a log.file, a `log` readiness probe, a `tend logs -f` follower): every
//     line; the event loop is woken (a thread-safe function, coalesced) and takes them.
//     Reading pauses while FULL_HIGH_WATER bytes are pending, so the service blocks on its
//     pipe when JavaScript's sinks are backed up: memory stays bounded, nothing is lost.
// Lines are cut exactly as src/log/lines.ts cuts them (pieces of MAX_LINE bytes, each
// given a '\n'), and a last line without '\n' is given one at end of file.
//
// Flow control towards the console: a route's output is written at once when nothing is
// queued before it (no copy), else queued; a console that is full (a stalled pipe or tty)
// is waited for in epoll (EPOLLOUT), never in a blocking write, so the thread reads on,
// sees the services' end of file and keeps each console's queue apart. Over 1 MiB queued
// (src/log/writer.ts's high-water mark), the routes writing that console stop reading
// and their services block on their pipes: memory stays bounded, nothing is lost.
// JavaScript never waits for this thread: its writes are copied into the same queue, and
// the AsyncWriter reports backpressure from the queue's length (src/log/writer.ts); while
// it waits for the queue (a flush at exit) the event loop is kept alive. A console that
// fails (EPIPE, ENOSPC, EBADF...) is marked failed and its output discarded from then on.
// Idle, the thread sleeps in epoll_wait with no timeout.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include "napi-bytes.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "thread.h"

#define MAX_LINE (64 * 1024)      /* src/log/lines.ts MAX_LINE */
#define READ_SIZE (64 * 1024)     /* a quiet pipe's reads, as src/process/spawn.ts reads */
#define BUSY_SIZE (256 * 1024)    /* a busy pipe's capacity and reads */
#define OUT_CAP (512 * 1024)      /* the output buffer, written whenever it fills */
#define FULL_HIGH_WATER (1024 * 1024)
#define TAIL_STARTS 4096          /* tail mode keeps at most this many lines of a read by their starts */

struct seg {
    size_t off; /* from the pending buffer's start */
    size_t len;
    size_t lines;
    double time;
    double seq;
};

struct route {
    int used;
    int fd;
    int target;        /* 0 or 1, -1: no console */
    int busy;
    int armed;         /* in the epoll set for reading */
    int ended;         /* end of file seen (thread) */
    int announced;     /* on the ready list, not yet taken */
    int full;
    int paused;        /* reading stopped until JavaScript takes (full mode), under the lock */
    size_t max_lines, max_bytes;
    unsigned char *prefix; /* thread's */
    size_t plen;
    unsigned char *carry;  /* thread's: the unfinished line, at most MAX_LINE bytes */
    size_t carry_len;
    /* pending, under the lock */
    unsigned char *pend;
    size_t pend_head, pend_end, pend_cap;
    struct seg *segs;
    size_t seg_head, seg_end, seg_cap;
    size_t pend_lines;
};

enum { CMD_ADD, CMD_PREFIX, CMD_REARM };

struct cmd {
    struct cmd *next;
    int kind;
    int id;
    size_t len;
    unsigned char data[];
};

/* Bytes waiting for a console, in order: JavaScript's writes and what a route could not write at once. */
struct chunk {
    struct chunk *next;
    size_t len, off;
    unsigned char data[];
};

#define TARGET_HIGH_WATER (1024 * 1024) /* src/log/writer.ts DEFAULT_HIGH_WATER_MARK */
#define TARGET_TAG 0x40000000u          /* epoll data of a console waiting for room */

struct target {
    int fd;                     /* -1: not native */
    int failed;                 /* an errno once it failed; its output is discarded from then on */
    struct chunk *head, *tail;  /* under the lock */
    size_t queued;              /* under the lock */
    int want_drain, want_empty; /* JavaScript waits for the queue below the high-water mark, or empty */
    int held;                   /* thread: routes writing here stopped reading (queue over the mark) */
    int polling;                /* thread: in the epoll set for EPOLLOUT */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int started;
static int epfd = -1, wakefd = -1;
static struct route *routes;
static size_t route_cap;
static size_t route_high; /* ids below this have been used */
static int *free_ids;
static size_t free_count, free_cap;
static struct cmd *cmd_head, *cmd_tail;
static struct target targets[2] = {{.fd = -1}, {.fd = -1}};
static int *ready;  /* routes with pending lines for JavaScript (full mode) or ended */
static size_t ready_count, ready_cap;
static int notified; /* a call to JavaScript is on its way */
static int reffed;   /* the event loop is kept alive: JavaScript waits for a console's queue (main thread's) */
static int closing;  /* the Node environment is going away: no more calls into it */
static napi_threadsafe_function tsfn;
static double next_seq = 1;

/* thread's own */
static unsigned char *rbuf;
static unsigned char *obuf;
static size_t olen;
static size_t tail_starts[TAIL_STARTS];

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

static void wake_thread(void) {
    uint64_t one = 1;
    ssize_t ignored = write(wakefd, &one, sizeof one);
    (void)ignored;
}

/* Under the lock: asks the event loop to look (once until it has). */
static void notify_js(void) {
    if (notified || closing) return;
    notified = 1;
    napi_call_threadsafe_function(tsfn, NULL, napi_tsfn_nonblocking);
}

static void push_ready(struct route *r, int id) {
    if (r->announced) return;
    if (ready_count == ready_cap) {
        size_t cap = ready_cap ? ready_cap * 2 : 64;
        int *grown = realloc(ready, cap * sizeof *grown);
        if (grown == NULL) return; /* taken when the pipe ends, or when the ring is read */
        ready = grown;
        ready_cap = cap;
    }
    r->announced = 1;
    ready[ready_count++] = id;
    notify_js();
}

/* ---- writing (thread) ---- */

/* Under the lock: the console failed; what it holds is dropped. */
static void fail_target(struct target *tg, int err) {
    tg->failed = err ? err : EIO;
    for (struct chunk *c = tg->head, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    tg->head = tg->tail = NULL;
    tg->queued = 0;
    notify_js();
}

/* Under the lock: JavaScript hears of the queue it waits for. */
static void queue_changed(struct target *tg) {
    if ((tg->want_drain && tg->queued < TARGET_HIGH_WATER) || (tg->want_empty && tg->queued == 0)) {
        tg->want_drain = tg->want_empty = 0;
        notify_js();
    }
}

/* Waiting for room: with epoll where the fd allows it (pipes, ttys), else in poll(). */
static void wait_for_room(int t) {
    struct target *tg = &targets[t];
    if (tg->polling) return;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = TARGET_TAG | (uint32_t)t};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, tg->fd, &ev) == 0) {
        tg->polling = 1;
        return;
    }
    struct pollfd pfd = {.fd = tg->fd, .events = POLLOUT};
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {}
}

static void route_arm(int id, struct route *r);

/* Writes what the target's queue holds until it is empty or the console is full. */
static void pump(int t) {
    struct target *tg = &targets[t];
    for (;;) {
        pthread_mutex_lock(&lock);
        struct chunk *c = tg->head;
        pthread_mutex_unlock(&lock);
        if (c == NULL || tg->failed) break;
        ssize_t w = write(tg->fd, c->data + c->off, c->len - c->off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            wait_for_room(t);
            if (tg->polling) return;
            continue;
        }
        pthread_mutex_lock(&lock);
        if (w < 0) {
            fail_target(tg, errno);
        } else {
            c->off += (size_t)w;
            tg->queued -= (size_t)w;
            if (c->off == c->len) {
                tg->head = c->next;
                if (tg->head == NULL) tg->tail = NULL;
                free(c);
            }
            queue_changed(tg);
        }
        pthread_mutex_unlock(&lock);
    }
    if (tg->polling) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, tg->fd, NULL);
        tg->polling = 0;
    }
    /* Room again: the routes held for it read on. */
    pthread_mutex_lock(&lock);
    int release = tg->held && tg->queued < TARGET_HIGH_WATER;
    pthread_mutex_unlock(&lock);
    if (release) {
        tg->held = 0;
        for (size_t id = 0; id < route_high; id++) {
            struct route *r = &routes[id];
            if (r->used && !r->ended && r->target == t) route_arm((int)id, r);
        }
    }
}

/* Under the lock: appends bytes to the target's queue (a copy). */
static int enqueue(struct target *tg, const unsigned char *buf, size_t len) {
    struct chunk *c = malloc(sizeof *c + len);
    if (c == NULL) return 0;
    c->next = NULL;
    c->len = len;
    c->off = 0;
    memcpy(c->data, buf, len);
    if (tg->tail) tg->tail->next = c;
    else tg->head = c;
    tg->tail = c;
    tg->queued += len;
    return 1;
}

/*
 * A route's output: written at once when nothing is queued before it (the usual case:
 * no copy), else queued behind what is. Over the high-water mark, the routes writing
 * this console stop reading (their services block on their pipes) until it drains.
 */
static void put_out(int t, const unsigned char *buf, size_t len) {
    struct target *tg = &targets[t];
    pthread_mutex_lock(&lock);
    int direct = tg->head == NULL && !tg->failed;
    int failed = tg->failed;
    pthread_mutex_unlock(&lock);
    if (failed || tg->fd < 0) return;
    while (direct && len > 0) {
        ssize_t w = write(tg->fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            pthread_mutex_lock(&lock);
            fail_target(tg, errno);
            pthread_mutex_unlock(&lock);
            return;
        }
        buf += w;
        len -= (size_t)w;
    }
    if (len == 0) return;
    pthread_mutex_lock(&lock);
    if (!tg->failed) enqueue(tg, buf, len);
    if (tg->queued >= TARGET_HIGH_WATER) tg->held = 1;
    pthread_mutex_unlock(&lock);
    pump(t);
}

static void flush_out(int t) {
    if (olen > 0 && t >= 0) put_out(t, obuf, olen);
    olen = 0;
}

/* ---- pending (under the lock) ---- */

static int pend_reserve(struct route *r, size_t len) {
    if (r->pend_end + len <= r->pend_cap) return 1;
    size_t live = r->pend_end - r->pend_head;
    if (r->pend_head > 0) {
        /* Dropped lines at the front make room: move what is left down. */
        memmove(r->pend, r->pend + r->pend_head, live);
        for (size_t i = r->seg_head; i < r->seg_end; i++) r->segs[i].off -= r->pend_head;
        r->pend_head = 0;
        r->pend_end = live;
        if (live + len <= r->pend_cap) return 1;
    }
    /* From 256 bytes: a quiet service's few lines keep a small buffer (1,000 services idle). */
    size_t cap = r->pend_cap ? r->pend_cap : 256;
    while (cap < live + len) cap *= 2;
    unsigned char *grown = realloc(r->pend, cap);
    if (grown == NULL) return 0;
    r->pend = grown;
    r->pend_cap = cap;
    return 1;
}

static struct seg *seg_new(struct route *r) {
    if (r->seg_end == r->seg_cap) {
        if (r->seg_head > 0) {
            memmove(r->segs, r->segs + r->seg_head, (r->seg_end - r->seg_head) * sizeof *r->segs);
            r->seg_end -= r->seg_head;
            r->seg_head = 0;
        }
        if (r->seg_end == r->seg_cap) {
            size_t cap = r->seg_cap ? r->seg_cap * 2 : 8;
            struct seg *grown = realloc(r->segs, cap * sizeof *grown);
            if (grown == NULL) return NULL;
            r->segs = grown;
            r->seg_cap = cap;
        }
    }
    return &r->segs[r->seg_end++];
}

static void pend_clear(struct route *r) {
    r->pend_head = r->pend_end = 0;
    r->seg_head = r->seg_end = 0;
    r->pend_lines = 0;
}

/* Frees what an idle route holds: a quiet service keeps no buffers. */
static void pend_release(struct route *r) {
    pend_clear(r);
    free(r->pend);
    free(r->segs);
    r->pend = NULL;
    r->segs = NULL;
    r->pend_cap = r->seg_cap = 0;
}

/* Opens a segment of `lines` lines for the bytes appended next (pend_add). */
static struct seg *seg_open(struct route *r, size_t bytes, size_t lines, double time) {
    if (!r->full) {
        if (r->max_lines == 0 || r->max_bytes == 0) return NULL;
        if (lines >= r->max_lines || bytes >= r->max_bytes) pend_clear(r);
    }
    if (!pend_reserve(r, bytes)) return NULL;
    struct seg *s = seg_new(r);
    if (s == NULL) return NULL;
    *s = (struct seg){.off = r->pend_end, .len = 0, .lines = lines, .time = time, .seq = next_seq++};
    r->pend_lines += lines;
    return s;
}

static void pend_add(struct route *r, struct seg *s, const unsigned char *p, size_t len, int newline) {
    memcpy(r->pend + r->pend_end, p, len);
    r->pend_end += len;
    if (newline) r->pend[r->pend_end++] = '\n';
    s->len += len + (newline ? 1 : 0);
}

/* Tail mode: whole segments go from the front while the rest still holds what the ring shows. */
static void seg_trim(struct route *r) {
    if (r->full) return;
    while (r->seg_end - r->seg_head > 1) {
        struct seg *first = &r->segs[r->seg_head];
        size_t live = r->pend_end - r->pend_head;
        if (r->pend_lines - first->lines < r->max_lines && live - first->len < r->max_bytes) break;
        r->pend_lines -= first->lines;
        r->pend_head = first->off + first->len;
        r->seg_head += 1;
    }
}

/* ---- reading (thread) ---- */

static void arm(int id, struct route *r, int on) {
    if (r->armed == on || r->ended) return;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u32 = (uint32_t)id + 1};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, r->fd, &ev) == 0) r->armed = on;
}

/* Thread: reads the route again unless JavaScript (full mode) or its console holds it. */
static void route_arm(int id, struct route *r) {
    pthread_mutex_lock(&lock);
    int on = !r->paused;
    pthread_mutex_unlock(&lock);
    if (on && (r->target < 0 || !targets[r->target].held)) arm(id, r, 1);
}

/* The line at p (len bytes, '\n' included unless `cut`) to the console buffer. */
static inline void emit(struct route *r, const unsigned char *p, size_t len, int cut) {
    if (r->target < 0) return;
    if (olen + r->plen + len + 1 > OUT_CAP) flush_out(r->target);
    memcpy(obuf + olen, r->prefix, r->plen);
    olen += r->plen;
    memcpy(obuf + olen, p, len);
    olen += len;
    if (cut) obuf[olen++] = '\n';
}

/*
 * Splits buf[0, len) into lines, emitting each; returns the bytes consumed (whole lines
 * and cut pieces); the rest is the unfinished line. *lines and *cuts count them; the starts
 * of the last TAIL_STARTS lines go to tail_starts (circular).
 */
static size_t split(struct route *r, const unsigned char *buf, size_t len, size_t *lines, int *cuts) {
    const unsigned char *p = buf, *end = buf + len;
    size_t n = 0;
    int cut = 0;
    while (p < end) {
        size_t avail = (size_t)(end - p);
        const unsigned char *nl = memchr(p, '\n', avail < MAX_LINE + 1 ? avail : MAX_LINE + 1);
        tail_starts[n % TAIL_STARTS] = (size_t)(p - buf);
        if (nl != NULL) {
            emit(r, p, (size_t)(nl - p) + 1, 0);
            p = nl + 1;
        } else if (avail > MAX_LINE) {
            emit(r, p, MAX_LINE, 1);
            p += MAX_LINE;
            cut = 1;
        } else {
            break;
        }
        n += 1;
    }
    *lines = n;
    *cuts = cut;
    return (size_t)(p - buf);
}

/* Appends lines [from, to) of buf (as split() cut them) to the route's pending segment. */
static void pend_lines_of(struct route *r, struct seg *s, const unsigned char *buf, size_t from, size_t to, int cuts) {
    if (!cuts) {
        pend_add(r, s, buf + from, to - from, 0);
        return;
    }
    const unsigned char *p = buf + from, *end = buf + to;
    while (p < end) {
        size_t avail = (size_t)(end - p);
        const unsigned char *nl = memchr(p, '\n', avail < MAX_LINE + 1 ? avail : MAX_LINE + 1);
        if (nl != NULL) {
            pend_add(r, s, p, (size_t)(nl - p) + 1, 0);
            p = nl + 1;
        } else {
            pend_add(r, s, p, MAX_LINE, 1);
            p += MAX_LINE;
        }
    }
}

static void take_lines(int id, struct route *r, const unsigned char *buf, size_t used, size_t lines, int cuts, const unsigned char *extra) {
    if (lines == 0 && extra == NULL) return;
    double time = now_ms();
    pthread_mutex_lock(&lock);
    size_t from = 0, keep = lines;
    if (!r->full && lines > r->max_lines && r->max_lines > 0 && r->max_lines <= TAIL_STARTS) {
        /* Only the lines the ring can show: from the start of the max_lines-th last. */
        from = tail_starts[(lines - r->max_lines) % TAIL_STARTS];
        keep = r->max_lines;
    }
    size_t bytes = used - from + (size_t)(cuts ? (used - from) / MAX_LINE + 1 : 0);
    struct seg *s = seg_open(r, bytes + (extra ? r->carry_len + 1 : 0), keep + (extra ? 1 : 0), time);
    if (s != NULL) {
        if (used > from) pend_lines_of(r, s, buf, from, used, cuts);
        if (extra != NULL) pend_add(r, s, r->carry, r->carry_len, 1);
        seg_trim(r);
        if (r->full) {
            push_ready(r, id);
            if (r->pend_end - r->pend_head >= FULL_HIGH_WATER) {
                r->paused = 1;
                arm(id, r, 0);
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

static void end_route(int id, struct route *r) {
    if (r->carry_len > 0) {
        /* The last line, without its '\n': given one, as the JavaScript splitter does. */
        emit(r, r->carry, r->carry_len, 1);
        flush_out(r->target);
        take_lines(id, r, NULL, 0, 0, 0, r->carry);
    }
    free(r->carry);
    r->carry = NULL;
    r->carry_len = 0;
    epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd, NULL);
    close(r->fd);
    r->fd = -1;
    r->armed = 0;
    pthread_mutex_lock(&lock);
    r->ended = 1;
    r->paused = 0;
    push_ready(r, id); /* JavaScript sees it ended when it takes it (once, if it was on the list already) */
    pthread_mutex_unlock(&lock);
}

static void read_route(int id, struct route *r) {
    size_t have = r->carry_len;
    if (have > 0) memcpy(rbuf, r->carry, have);
    size_t want = r->busy ? BUSY_SIZE : READ_SIZE;
    ssize_t got = read(r->fd, rbuf + have, want);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) {
        /* End of file, or a read error (EIO from a pty): the stream ends as at EOF. */
        end_route(id, r);
        return;
    }
    /* A read that filled the buffer: the service writes faster than this reads. */
    if (!r->busy && (size_t)got == READ_SIZE) r->busy = fcntl(r->fd, F_SETPIPE_SZ, BUSY_SIZE) >= BUSY_SIZE;
    size_t len = have + (size_t)got, lines;
    int cuts;
    size_t used = split(r, rbuf, len, &lines, &cuts);
    flush_out(r->target);
    take_lines(id, r, rbuf, used, lines, cuts, NULL);
    size_t rest = len - used;
    if (rest == 0) {
        if (r->carry != NULL && r->carry_len > 0) {
            free(r->carry);
            r->carry = NULL;
        }
        r->carry_len = 0;
        return;
    }
    if (r->carry == NULL) r->carry = malloc(MAX_LINE);
    if (r->carry == NULL) { /* no memory: the piece goes out as a line of its own */
        emit(r, rbuf + used, rest, 1);
        flush_out(r->target);
        r->carry_len = 0;
        return;
    }
    memmove(r->carry, rbuf + used, rest);
    r->carry_len = rest;
}

/* ---- commands from JavaScript (thread) ---- */

static void run_commands(void) {
    for (;;) {
        pthread_mutex_lock(&lock);
        struct cmd *c = cmd_head;
        if (c != NULL) {
            cmd_head = c->next;
            if (cmd_head == NULL) cmd_tail = NULL;
        }
        pthread_mutex_unlock(&lock);
        if (c == NULL) return;
        switch (c->kind) {
        case CMD_PREFIX: {
            struct route *r = &routes[c->id];
            unsigned char *p = malloc(c->len ? c->len : 1);
            if (p != NULL) {
                memcpy(p, c->data, c->len);
                free(r->prefix);
                r->prefix = p;
                r->plen = c->len;
            }
            break;
        }
        case CMD_ADD: {
            struct route *r = &routes[c->id];
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)c->id + 1};
            if (r->fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd, &ev) == 0) r->armed = 1;
            else end_route(c->id, r);
            break;
        }
        case CMD_REARM: {
            route_arm(c->id, &routes[c->id]);
            break;
        }
        }
        free(c);
    }
}

static void *console_main(void *arg) {
    (void)arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epfd, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return NULL;
        }
        for (int i = 0; i < n; i++) {
            uint32_t tag = evs[i].data.u32;
            if (tag == 0) {
                uint64_t count;
                ssize_t ignored = read(wakefd, &count, sizeof count);
                (void)ignored;
                continue;
            }
            if (tag & TARGET_TAG) {
                pump((int)(tag & ~TARGET_TAG));
                continue;
            }
            int id = (int)tag - 1;
            struct route *r = &routes[id];
            if (r->fd < 0 || !r->armed) continue;
            if (r->target >= 0 && targets[r->target].held) {
                arm(id, r, 0); /* its console is backed up: read again once it drains */
                continue;
            }
            read_route(id, r);
        }
        run_commands();
        /* JavaScript's writes, queued meanwhile. */
        for (int t = 0; t < 2; t++) if (targets[t].head != NULL && !targets[t].polling) pump(t);
    }
    return NULL;
}

/* ---- JavaScript's side (the event loop thread) ---- */

static void push_cmd(struct cmd *c) {
    c->next = NULL;
    if (cmd_tail) cmd_tail->next = c;
    else cmd_head = c;
    cmd_tail = c;
}

static struct cmd *new_cmd(int kind, int id, const void *data, size_t len) {
    struct cmd *c = malloc(sizeof *c + len);
    if (c == NULL) return NULL;
    c->kind = kind;
    c->id = id;
    c->len = len;
    if (len) memcpy(c->data, data, len);
    return c;
}

static napi_value number(napi_env env, double value) {
    napi_value result;
    napi_create_double(env, value, &result);
    return result;
}

static int int_arg(napi_env env, napi_value value, int64_t *out) {
    return napi_get_value_int64(env, value, out) == napi_ok;
}

/* The environment is being torn down (tend exits): the thread must not call into it any more. */
static void on_cleanup(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    closing = 1;
    pthread_mutex_unlock(&lock);
}

static void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
    (void)context;
    (void)data;
    if (env == NULL || js_cb == NULL) return;
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, js_cb, 0, NULL, NULL);
}

/* readerStart(onEvents, stdoutFd, stderrFd): the console targets (-1: not native); false when the thread cannot run. */
static napi_value reader_start(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    int64_t fds[2];
    bool ok = false;
    napi_value result;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !int_arg(env, argv[1], &fds[0]) || !int_arg(env, argv[2], &fds[1])) {
        napi_throw_type_error(env, NULL, "readerStart(onEvents: () => void, stdoutFd: number, stderrFd: number)");
        return NULL;
    }
    if (started) {
        napi_get_boolean(env, false, &result);
        return result;
    }
    napi_value name;
    napi_create_string_utf8(env, "tend-console", NAPI_AUTO_LENGTH, &name);
    rbuf = malloc(MAX_LINE + BUSY_SIZE);
    obuf = malloc(OUT_CAP);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    if (rbuf != NULL && obuf != NULL && epfd >= 0 && wakefd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) == 0 &&
        napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &tsfn) == napi_ok) {
        /* The thread never keeps the event loop alive. */
        napi_unref_threadsafe_function(env, tsfn);
        /* Registered after the thread-safe function: cleanup hooks run last-first, so this one before its own. */
        napi_add_env_cleanup_hook(env, on_cleanup, NULL);
        targets[0].fd = (int)fds[0];
        targets[1].fd = (int)fds[1];
        ok = tend_start_thread("tend-console", console_main, NULL) == 0;
    }
    if (ok) started = 1;
    napi_get_boolean(env, ok, &result);
    return result;
}

/* readerWrite(target, bytes): queued (copied) for the target, in order with the routes' output. */
static napi_value reader_write(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    int64_t t;
    uint8_t *data;
    size_t len;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !int_arg(env, argv[0], &t) || t < 0 || t > 1 || !napi_bytes(env, argv[1], &data, &len, 1)) {
        napi_throw_type_error(env, NULL, "readerWrite(target: 0 | 1, bytes: Uint8Array)");
        return NULL;
    }
    pthread_mutex_lock(&lock);
    int ok = targets[t].failed == 0 && len > 0 && enqueue(&targets[t], data, len);
    pthread_mutex_unlock(&lock);
    if (ok) wake_thread();
    return number(env, ok);
}

/* readerWant(target, empty): an event when the target's queue is below the high-water mark (or empty). */
static napi_value reader_want(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    int64_t t;
    bool empty;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !int_arg(env, argv[0], &t) || t < 0 || t > 1 || napi_get_value_bool(env, argv[1], &empty) != napi_ok) {
        napi_throw_type_error(env, NULL, "readerWant(target: 0 | 1, empty: boolean)");
        return NULL;
    }
    /* A flush at exit waits on this alone (its timer does not keep the loop alive): the
       loop must not end, and tend exit, while the thread still holds what it waits for. */
    if (!reffed && napi_ref_threadsafe_function(env, tsfn) == napi_ok) reffed = 1;
    pthread_mutex_lock(&lock);
    if (empty) targets[t].want_empty = 1;
    else targets[t].want_drain = 1;
    queue_changed(&targets[t]);
    pthread_mutex_unlock(&lock);
    return number(env, 0);
}

/* readerStatus(out: Float64Array(4)): [queued0, failed0, queued1, failed1]: bytes the thread holds for each console, and its errno once it failed. */
static napi_value reader_status(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    uint8_t *data;
    size_t len;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !napi_bytes(env, argv[0], &data, &len, 1) || len < 4 * sizeof(double)) {
        napi_throw_type_error(env, NULL, "readerStatus(out: Float64Array)");
        return NULL;
    }
    double *out = (double *)data;
    pthread_mutex_lock(&lock);
    out[0] = (double)targets[0].queued;
    out[1] = targets[0].failed;
    out[2] = (double)targets[1].queued;
    out[3] = targets[1].failed;
    pthread_mutex_unlock(&lock);
    return number(env, 0);
}

/* readerReady(out: Int32Array): routes with lines for JavaScript or ended, in the order they became so; -(count) when out is too small. */
static napi_value reader_ready(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    bool is_typed = false;
    napi_typedarray_type type;
    size_t count;
    void *data;
    napi_value buffer;
    size_t offset;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, argv[0], &type, &count, &data, &buffer, &offset) != napi_ok || type != napi_int32_array) {
        napi_throw_type_error(env, NULL, "readerReady(out: Int32Array)");
        return NULL;
    }
    pthread_mutex_lock(&lock);
    notified = 0;
    int waited = targets[0].want_drain || targets[0].want_empty || targets[1].want_drain || targets[1].want_empty;
    if (reffed && !waited && napi_unref_threadsafe_function(env, tsfn) == napi_ok) reffed = 0;
    double result;
    if (ready_count > count) {
        result = -(double)ready_count;
    } else {
        int32_t *out = data;
        for (size_t i = 0; i < ready_count; i++) {
            out[i] = ready[i];
            routes[ready[i]].announced = 0;
        }
        result = (double)ready_count;
        ready_count = 0;
    }
    pthread_mutex_unlock(&lock);
    return number(env, result);
}

/*
 * readerAdd(fd, target, prefix, carry, maxLines, maxBytes, full): a route for the pipe `fd`
 * (duplicated: the caller closes its own), its lines to `target` (-1: none) behind
 * `prefix`, `carry` the unfinished line read before. Returns the route's id, or -1.
 */
static napi_value reader_add(napi_env env, napi_callback_info info) {
    size_t argc = 7;
    napi_value argv[7];
    int64_t fd, t, max_lines, max_bytes;
    uint8_t *prefix, *carry;
    size_t plen, clen;
    bool full;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 || !int_arg(env, argv[0], &fd) || !int_arg(env, argv[1], &t) ||
        !napi_bytes(env, argv[2], &prefix, &plen, 1) || !napi_bytes(env, argv[3], &carry, &clen, 1) || !int_arg(env, argv[4], &max_lines) ||
        !int_arg(env, argv[5], &max_bytes) || napi_get_value_bool(env, argv[6], &full) != napi_ok || t < -1 || t > 1 || clen > MAX_LINE || max_lines < 0 || max_bytes < 0) {
        napi_throw_type_error(env, NULL, "readerAdd(fd, target, prefix, carry, maxLines, maxBytes, full)");
        return NULL;
    }
    if (!started) return number(env, -1);
    int own = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
    if (own < 0) return number(env, -1);
    unsigned char *p = malloc(plen ? plen : 1), *cbuf = clen ? malloc(MAX_LINE) : NULL;
    struct cmd *c = new_cmd(CMD_ADD, 0, NULL, 0);
    pthread_mutex_lock(&lock);
    int id = -1;
    if (p != NULL && c != NULL && (clen == 0 || cbuf != NULL)) {
        if (free_count > 0) id = free_ids[--free_count];
        else if (route_high < route_cap) id = (int)route_high++;
    }
    if (id >= 0) {
        struct route *r = &routes[id];
        memset(r, 0, sizeof *r);
        r->used = 1;
        r->fd = own;
        r->target = (int)t;
        r->prefix = p;
        r->plen = plen;
        memcpy(p, prefix, plen);
        r->carry = cbuf;
        r->carry_len = clen;
        if (clen) memcpy(cbuf, carry, clen);
        r->max_lines = (size_t)max_lines;
        r->max_bytes = (size_t)max_bytes;
        r->full = full;
        c->id = id;
        push_cmd(c);
    }
    pthread_mutex_unlock(&lock);
    if (id < 0) {
        free(p);
        free(cbuf);
        free(c);
        close(own);
        return number(env, -1);
    }
    wake_thread();
    return number(env, id);
}

/* readerPrefix(route, prefix): the route's prefix from its next line on (after a reload's new padding). */
static napi_value reader_prefix(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    int64_t id;
    uint8_t *prefix;
    size_t plen;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !int_arg(env, argv[0], &id) || id < 0 || (size_t)id >= route_cap || !napi_bytes(env, argv[1], &prefix, &plen, 1)) {
        napi_throw_type_error(env, NULL, "readerPrefix(route, prefix)");
        return NULL;
    }
    struct cmd *c = new_cmd(CMD_PREFIX, (int)id, prefix, plen);
    if (c == NULL) return number(env, 0);
    pthread_mutex_lock(&lock);
    push_cmd(c);
    pthread_mutex_unlock(&lock);
    wake_thread();
    return number(env, 1);
}

/* readerMode(route, full): full mode hands JavaScript every line, tail mode what the ring shows. */
static napi_value reader_mode(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    int64_t id;
    bool full;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !int_arg(env, argv[0], &id) || id < 0 || (size_t)id >= route_cap ||
        napi_get_value_bool(env, argv[1], &full) != napi_ok) {
        napi_throw_type_error(env, NULL, "readerMode(route, full)");
        return NULL;
    }
    struct route *r = &routes[id];
    struct cmd *c = NULL;
    pthread_mutex_lock(&lock);
    r->full = full;
    if (!full && r->paused) {
        r->paused = 0;
        c = new_cmd(CMD_REARM, (int)id, NULL, 0);
        if (c != NULL) push_cmd(c);
    }
    pthread_mutex_unlock(&lock);
    if (c != NULL) wake_thread();
    return number(env, 1);
}

/*
 * readerTake(route, dst, meta): moves the route's pending lines into dst and, per segment
 * (one read's lines), [length, lines, time, seq] into meta. Returns the number of
 * segments, or -1 when dst or meta is too small: readerPending(route, out) says how much
 * is needed. Reading resumes if it had paused for JavaScript.
 */
static napi_value reader_take(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    int64_t id;
    uint8_t *dst, *meta;
    size_t cap, mcap;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !int_arg(env, argv[0], &id) || id < 0 || (size_t)id >= route_cap ||
        !napi_bytes(env, argv[1], &dst, &cap, 1) || !napi_bytes(env, argv[2], &meta, &mcap, 1)) {
        napi_throw_type_error(env, NULL, "readerTake(route, dst, meta)");
        return NULL;
    }
    struct route *r = &routes[id];
    pthread_mutex_lock(&lock);
    size_t live = r->pend_end - r->pend_head, segs = r->seg_end - r->seg_head;
    if (live > cap || segs * 4 * sizeof(double) > mcap) {
        pthread_mutex_unlock(&lock);
        return number(env, -1);
    }
    double *m = (double *)meta;
    memcpy(dst, r->pend + r->pend_head, live);
    for (size_t i = 0; i < segs; i++) {
        struct seg *s = &r->segs[r->seg_head + i];
        m[i * 4] = (double)s->len;
        m[i * 4 + 1] = (double)s->lines;
        m[i * 4 + 2] = s->time;
        m[i * 4 + 3] = s->seq;
    }
    int paused = r->paused;
    r->paused = 0;
    if (live > 64 * 1024) pend_release(r);
    else pend_clear(r);
    struct cmd *c = paused && !r->ended ? new_cmd(CMD_REARM, (int)id, NULL, 0) : NULL;
    if (c != NULL) push_cmd(c);
    pthread_mutex_unlock(&lock);
    if (c != NULL) wake_thread();
    return number(env, (double)segs);
}

/* readerPending(route, out: Float64Array(2)): [bytes, segments] pending. */
static napi_value reader_pending(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    int64_t id;
    uint8_t *out;
    size_t len;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !int_arg(env, argv[0], &id) || id < 0 || (size_t)id >= route_cap ||
        !napi_bytes(env, argv[1], &out, &len, 1) || len < 2 * sizeof(double)) {
        napi_throw_type_error(env, NULL, "readerPending(route, out)");
        return NULL;
    }
    struct route *r = &routes[id];
    pthread_mutex_lock(&lock);
    ((double *)out)[0] = (double)(r->pend_end - r->pend_head);
    ((double *)out)[1] = (double)(r->seg_end - r->seg_head);
    int ended = r->ended;
    pthread_mutex_unlock(&lock);
    return number(env, ended);
}

/* readerFree(route): an ended route, taken for the last time, is forgotten. */
static napi_value reader_free(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    int64_t id;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !int_arg(env, argv[0], &id) || id < 0 || (size_t)id >= route_cap) {
        napi_throw_type_error(env, NULL, "readerFree(route)");
        return NULL;
    }
    struct route *r = &routes[id];
    pthread_mutex_lock(&lock);
    int ok = r->used && r->ended;
    if (ok) {
        pend_release(r);
        free(r->prefix);
        r->prefix = NULL;
        r->used = 0;
        if (free_count == free_cap) {
            size_t cap = free_cap ? free_cap * 2 : 64;
            int *grown = realloc(free_ids, cap * sizeof *grown);
            if (grown != NULL) {
                free_ids = grown;
                free_cap = cap;
            }
        }
        if (free_count < free_cap) free_ids[free_count++] = (int)id;
    }
    pthread_mutex_unlock(&lock);
    return number(env, ok);
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback function) {
    napi_value fn;
    return napi_create_function(env, name, NAPI_AUTO_LENGTH, function, NULL, &fn) == napi_ok && napi_set_named_property(env, exports, name, fn) == napi_ok;
}

/* Routes live in one block allocated once: the thread indexes it without the lock. */
#define MAX_ROUTES 65536

int tend_reader_init(napi_env env, napi_value exports) {
    if (routes == NULL) {
        routes = calloc(MAX_ROUTES, sizeof *routes);
        if (routes == NULL) return 0;
        route_cap = MAX_ROUTES;
    }
    return export_function(env, exports, "readerStart", reader_start) && export_function(env, exports, "readerWrite", reader_write) && export_function(env, exports, "readerWant", reader_want) &&
           export_function(env, exports, "readerStatus", reader_status) && export_function(env, exports, "readerReady", reader_ready) &&
           export_function(env, exports, "readerAdd", reader_add) && export_function(env, exports, "readerPrefix", reader_prefix) &&
           export_function(env, exports, "readerMode", reader_mode) && export_function(env, exports, "readerTake", reader_take) &&
           export_function(env, exports, "readerPending", reader_pending) && export_function(env, exports, "readerFree", reader_free);
}
