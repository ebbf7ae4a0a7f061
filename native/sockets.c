/*
 * Socket activation: the listening sockets tend holds for a service (systemd's .socket
 * units, Accept=no). Made here rather than with Node's net.Server, which would accept
 * connections itself: these only listen, blocking, close-on-exec, until tend passes them
 * to the service as fds 3, 4, ... (the exec helper's -L). A connection that arrives while
 * the service restarts waits in the backlog.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A TCP socket listening on host:port (host "" or "*": every address, IPv6 and IPv4). Returns the fd or -errno (-EADDRINUSE...). */
int tend_listen_tcp(const char *host, int port, int backlog) {
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_family = AF_UNSPEC;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int any = host[0] == '\0' || strcmp(host, "*") == 0;
    if (any) hints.ai_family = AF_INET6;
    int rc = getaddrinfo(any ? NULL : host, service, &hints, &found);
    if (rc != 0 && any) {
        hints.ai_family = AF_INET; /* no IPv6 in this network namespace */
        rc = getaddrinfo(NULL, service, &hints, &found);
    }
    if (rc != 0) return rc == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
    int err = EADDRNOTAVAIL;
    for (struct addrinfo *a = found; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) { err = errno; continue; }
        int on = 1, off = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (a->ai_family == AF_INET6 && any) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            freeaddrinfo(found);
            return fd;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(found);
    return -err;
}

/* A Unix stream socket listening at path (a stale socket file there is replaced), with mode (-1: umask's). */
int tend_listen_unix(const char *path, int backlog, int mode) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) == 0 || strlen(path) >= sizeof addr.sun_path) return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || (mode >= 0 && chmod(path, (mode_t)mode) != 0) || listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}
