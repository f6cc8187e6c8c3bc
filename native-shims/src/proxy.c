/* hyperlxd-nsexec proxy: the forwarder of a non-NAT proxy device (README.md, "Proxy forwarder").
 * Binds every listener in its own (the daemon's) network namespace first, then setns()es into the
 * instance's, so every outgoing connection is made from inside the instance. Single-threaded, one
 * epoll loop: TCP relayed both ways with half-close, UDP as one connected socket per client address
 * (expired after --udp-timeout seconds idle). Ends on SIGTERM/SIGINT and when the instance's init
 * (the PID of /proc/PID/ns/net) is gone. */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define MAX_PORTS 65536
#define MAX_FLOWS 4096
#define BUF_SIZE 65536

enum { EXIT_USAGE = 1, EXIT_IN_USE = 3, EXIT_NETNS = 4 };

struct addr {
    int tcp;             /* 1 tcp, 0 udp */
    int family;          /* AF_INET / AF_INET6 */
    char host[64];
    unsigned char ip[16];
    int nports;
    unsigned short *ports;
};

/* What an epoll event points at. */
enum kind { K_LISTEN, K_SIGNAL, K_PIDFD, K_TCP_CLIENT, K_TCP_TARGET, K_UDP_SESSION };

struct tag {
    enum kind kind;
    void *obj;
    int index; /* listener index */
};

struct pipe_dir {
    char *buf;
    size_t len, off;
    int eof, shut;
};

struct tcp_flow {
    int cfd, tfd;
    int connecting;
    struct pipe_dir up, down; /* client->target, target->client */
    struct tag ctag, ttag;
    unsigned cev, tev;        /* registered interest */
    int dead;                 /* closed; freed after the current batch of events (which may still name it) */
    struct tcp_flow *next, *prev;
};

struct udp_session {
    int listener; /* index */
    struct sockaddr_storage client;
    socklen_t client_len;
    int fd;
    time_t last;
    struct tag tag;
    struct udp_session *next, *prev;
};

static int g_ep;
static int *g_listen;
static struct tag *g_listen_tag;
static struct addr g_l, g_c;
static struct tcp_flow *g_flows, *g_dead;
static struct udp_session *g_sessions;
static int g_nflows;
static long g_udp_timeout = 1800;
static char g_udp_buf[BUF_SIZE];

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("hyperlxd-nsexec proxy: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

/* "tcp:ADDR:PORTS", ADDR bracketed when IPv6, PORTS "N", "N-M", comma-separated. */
static int parse_addr(const char *text, struct addr *a)
{
    const char *rest, *colon;
    char ports[1024], *save = NULL, *tok;
    size_t hl;

    if (strncmp(text, "tcp:", 4) == 0)
        a->tcp = 1;
    else if (strncmp(text, "udp:", 4) == 0)
        a->tcp = 0;
    else
        return -1;
    rest = text + 4;
    if (!(colon = strrchr(rest, ':')) || strlen(colon + 1) >= sizeof(ports))
        return -1;
    hl = (size_t)(colon - rest);
    if (hl >= 2 && rest[0] == '[' && rest[hl - 1] == ']') {
        rest++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(a->host))
        return -1;
    memcpy(a->host, rest, hl);
    a->host[hl] = '\0';
    if (inet_pton(AF_INET, a->host, a->ip) == 1)
        a->family = AF_INET;
    else if (inet_pton(AF_INET6, a->host, a->ip) == 1)
        a->family = AF_INET6;
    else
        return -1;
    strcpy(ports, colon + 1);
    if (!(a->ports = calloc(MAX_PORTS, sizeof(*a->ports))))
        return -1;
    for (tok = strtok_r(ports, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long first = strtol(tok, &end, 10), last = first;
        if (end == tok || first < 0 || first > 65535)
            return -1;
        if (*end == '-') {
            char *e2;
            last = strtol(end + 1, &e2, 10);
            if (e2 == end + 1 || *e2 || last <= first || last > 65535)
                return -1;
        } else if (*end)
            return -1;
        for (long p = first; p <= last; p++) {
            if (a->nports >= MAX_PORTS)
                return -1;
            a->ports[a->nports++] = (unsigned short)p;
        }
    }
    return a->nports > 0 ? 0 : -1;
}

static socklen_t sockaddr_of(const struct addr *a, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons((unsigned short)port);
        memcpy(&s->sin_addr, a->ip, 4);
        return sizeof(*s);
    }
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((unsigned short)port);
    memcpy(&s6->sin6_addr, a->ip, 16);
    return sizeof(*s6);
}

/* The target port of listener i: one connect port serves every listener, else pairwise. */
static int target_port(int i)
{
    return g_c.nports == 1 ? g_c.ports[0] : g_c.ports[i];
}

static void ep_add(int fd, unsigned events, struct tag *t)
{
    struct epoll_event ev = {.events = events, .data.ptr = t};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die(EXIT_USAGE, "epoll_ctl: %s", strerror(errno));
}

static void ep_mod(int fd, unsigned *cur, unsigned events, struct tag *t)
{
    struct epoll_event ev = {.events = events, .data.ptr = t};
    if (*cur == events)
        return;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, fd, &ev);
    *cur = events;
}

/* ---- TCP ------------------------------------------------------------------------------------ */

/* Closes a flow's sockets (which takes them out of epoll) and queues it for freeing. */
static void flow_free(struct tcp_flow *f)
{
    close(f->cfd);
    if (f->tfd >= 0)
        close(f->tfd);
    if (f->prev)
        f->prev->next = f->next;
    else
        g_flows = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->dead = 1;
    f->next = g_dead;
    g_dead = f;
    g_nflows--;
}

static void flows_reap(void)
{
    while (g_dead) {
        struct tcp_flow *f = g_dead;
        g_dead = f->next;
        free(f->up.buf);
        free(f->down.buf);
        free(f);
    }
}

/* Moves what it can from src to dst through d; -1 on a hard error (the flow is then dropped). */
static int relay(int src, int dst, struct pipe_dir *d)
{
    for (;;) {
        int progress = 0;
        if (d->len == 0 && !d->eof) {
            ssize_t n = read(src, d->buf, BUF_SIZE);
            if (n > 0) {
                d->len = (size_t)n;
                d->off = 0;
                progress = 1;
            } else if (n == 0)
                d->eof = 1;
            else if (errno != EAGAIN && errno != EINTR)
                return -1;
        }
        if (d->off < d->len) {
            ssize_t w = send(dst, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
            if (w > 0) {
                d->off += (size_t)w;
                if (d->off == d->len)
                    d->len = d->off = 0;
                progress = 1;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR)
                return -1;
        }
        if (d->eof && d->len == 0 && !d->shut) {
            shutdown(dst, SHUT_WR); /* half-close: the other direction goes on */
            d->shut = 1;
        }
        if (!progress)
            return 0;
    }
}

static void flow_pump(struct tcp_flow *f)
{
    if (f->connecting) {
        int err = 0;
        socklen_t l = sizeof(err);
        if (getsockopt(f->tfd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
            flow_free(f);
            return;
        }
        struct sockaddr_storage ss;
        l = sizeof(ss);
        if (getpeername(f->tfd, (struct sockaddr *)&ss, &l) < 0) {
            if (errno == ENOTCONN)
                return; /* still connecting */
            flow_free(f);
            return;
        }
        f->connecting = 0;
    }
    if (relay(f->cfd, f->tfd, &f->up) < 0 || relay(f->tfd, f->cfd, &f->down) < 0 || (f->up.shut && f->down.shut)) {
        flow_free(f);
        return;
    }
    ep_mod(f->cfd, &f->cev, (!f->up.eof && f->up.len == 0 ? EPOLLIN : 0) | (f->down.len ? EPOLLOUT : 0), &f->ctag);
    ep_mod(f->tfd, &f->tev,
           f->connecting ? EPOLLOUT : (!f->down.eof && f->down.len == 0 ? EPOLLIN : 0) | (f->up.len ? EPOLLOUT : 0), &f->ttag);
}

static void tcp_accept(int i)
{
    for (;;) {
        int cfd = accept4(g_listen[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        struct tcp_flow *f = g_nflows < MAX_FLOWS ? calloc(1, sizeof(*f)) : NULL;
        if (!f || !(f->up.buf = malloc(BUF_SIZE)) || !(f->down.buf = malloc(BUF_SIZE))) {
            if (f) {
                free(f->up.buf);
                free(f);
            }
            close(cfd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sockaddr_of(&g_c, target_port(i), &ss);
        /* Made here, after setns(): inside the instance's network namespace. */
        f->tfd = socket(g_c.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        f->cfd = cfd;
        if (f->tfd < 0 || (connect(f->tfd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)) {
            if (f->tfd >= 0)
                close(f->tfd);
            close(cfd);
            free(f->up.buf);
            free(f->down.buf);
            free(f);
            continue;
        }
        f->connecting = 1;
        f->ctag = (struct tag){K_TCP_CLIENT, f, i};
        f->ttag = (struct tag){K_TCP_TARGET, f, i};
        f->next = g_flows;
        if (g_flows)
            g_flows->prev = f;
        g_flows = f;
        g_nflows++;
        f->cev = 0;
        f->tev = EPOLLOUT;
        ep_add(cfd, 0, &f->ctag);
        ep_add(f->tfd, EPOLLOUT, &f->ttag);
    }
}

/* ---- UDP ------------------------------------------------------------------------------------ */

static void session_free(struct udp_session *s)
{
    close(s->fd);
    if (s->prev)
        s->prev->next = s->next;
    else
        g_sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
    g_nflows--;
}

static void udp_from_client(int i)
{
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(g_listen[i], g_udp_buf, sizeof(g_udp_buf), 0, (struct sockaddr *)&from, &fl);
        struct udp_session *s;
        if (n < 0)
            return;
        for (s = g_sessions; s; s = s->next)
            if (s->listener == i && s->client_len == fl && memcmp(&s->client, &from, fl) == 0)
                break;
        if (!s) {
            struct sockaddr_storage ss;
            socklen_t sl = sockaddr_of(&g_c, target_port(i), &ss);
            if (g_nflows >= MAX_FLOWS || !(s = calloc(1, sizeof(*s))))
                continue;
            s->fd = socket(g_c.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&ss, sl) < 0) {
                if (s->fd >= 0)
                    close(s->fd);
                free(s);
                continue;
            }
            s->listener = i;
            memcpy(&s->client, &from, fl);
            s->client_len = fl;
            s->tag = (struct tag){K_UDP_SESSION, s, i};
            s->next = g_sessions;
            if (g_sessions)
                g_sessions->prev = s;
            g_sessions = s;
            g_nflows++;
            ep_add(s->fd, EPOLLIN, &s->tag);
        }
        s->last = time(NULL);
        (void)send(s->fd, g_udp_buf, (size_t)n, 0);
    }
}

static void udp_from_target(struct udp_session *s)
{
    for (;;) {
        ssize_t n = recv(s->fd, g_udp_buf, sizeof(g_udp_buf), 0);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
                session_free(s);
            return;
        }
        s->last = time(NULL);
        (void)sendto(g_listen[s->listener], g_udp_buf, (size_t)n, 0, (struct sockaddr *)&s->client, s->client_len);
    }
}

static void udp_expire(void)
{
    time_t now = time(NULL);
    for (struct udp_session *s = g_sessions, *next; s; s = next) {
        next = s->next;
        if (now - s->last >= g_udp_timeout)
            session_free(s);
    }
}

/* ---- Setup ---------------------------------------------------------------------------------- */

static void bind_listeners(void)
{
    g_listen = calloc((size_t)g_l.nports, sizeof(*g_listen));
    g_listen_tag = calloc((size_t)g_l.nports, sizeof(*g_listen_tag));
    if (!g_listen || !g_listen_tag)
        die(EXIT_USAGE, "out of memory");
    for (int i = 0; i < g_l.nports; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sockaddr_of(&g_l, g_l.ports[i], &ss);
        int one = 1, fd = socket(g_l.family, (g_l.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die(EXIT_USAGE, "socket: %s", strerror(errno));
        if (g_l.tcp)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
            int e = errno;
            fprintf(stderr, "listen %s:%s port %d: %s\n", g_l.tcp ? "tcp" : "udp", g_l.host, g_l.ports[i],
                    e == EADDRINUSE ? "address already in use" : strerror(e));
            exit(e == EADDRINUSE ? EXIT_IN_USE : EXIT_USAGE);
        }
        if (g_l.tcp && listen(fd, 128) < 0)
            die(EXIT_USAGE, "listen: %s", strerror(errno));
        g_listen[i] = fd;
    }
}

/* The netns to connect from and, when the path is /proc/PID/ns/net, a pidfd of PID checked to be the
 * process whose namespace was opened (not a recycled pid): readable when that process ends. */
static int open_target(const char *netns, int *pidfd)
{
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    long pid;
    char *end;
    struct stat a, b;

    *pidfd = -1;
    if (fd < 0) {
        fprintf(stderr, "open %s: %s\n", netns, strerror(errno));
        exit(EXIT_NETNS);
    }
    if (strncmp(netns, "/proc/", 6) == 0 && (pid = strtol(netns + 6, &end, 10)) > 0 && strcmp(end, "/ns/net") == 0) {
        *pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (*pidfd < 0 || fstat(fd, &a) < 0 || stat(netns, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
            fprintf(stderr, "the instance's init (pid %ld) is gone\n", pid);
            exit(EXIT_NETNS);
        }
    }
    return fd;
}

static void usage(void)
{
    fputs("usage: hyperlxd-nsexec proxy --netns PATH --listen tcp|udp:ADDR:PORTS --connect tcp|udp:ADDR:PORTS\n"
          "                             [--uid U] [--gid G] [--udp-timeout SECONDS]\n",
          stderr);
    exit(EXIT_USAGE);
}

int hlx_proxy_main(int argc, char **argv)
{
    const char *netns = NULL, *listen_s = NULL, *connect_s = NULL;
    long uid = -1, gid = -1;
    int nsfd, pidfd, sigfd, devnull;
    sigset_t mask;
    struct tag sigtag = {K_SIGNAL, NULL, 0}, pidtag = {K_PIDFD, NULL, 0};

    for (int i = 0; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        const char *k = argv[i], *v = argv[i + 1];
        char *end;
        if (strcmp(k, "--netns") == 0)
            netns = v;
        else if (strcmp(k, "--listen") == 0)
            listen_s = v;
        else if (strcmp(k, "--connect") == 0)
            connect_s = v;
        else if (strcmp(k, "--uid") == 0 && (uid = strtol(v, &end, 10)) >= 0 && !*end)
            continue;
        else if (strcmp(k, "--gid") == 0 && (gid = strtol(v, &end, 10)) >= 0 && !*end)
            continue;
        else if (strcmp(k, "--udp-timeout") == 0 && (g_udp_timeout = strtol(v, &end, 10)) > 0 && !*end)
            continue;
        else
            usage();
    }
    if (!netns || !listen_s || !connect_s)
        usage();
    if (parse_addr(listen_s, &g_l) < 0)
        die(EXIT_USAGE, "bad listen address %s", listen_s);
    if (parse_addr(connect_s, &g_c) < 0)
        die(EXIT_USAGE, "bad connect address %s", connect_s);
    if (g_l.tcp != g_c.tcp)
        die(EXIT_USAGE, "listen and connect must both be tcp or both udp");
    if (g_c.nports != 1 && g_c.nports != g_l.nports)
        die(EXIT_USAGE, "connect needs one port or as many as listen");

    setsid(); /* its own session: nothing aimed at the daemon's process group reaches it */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    if ((sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
        die(EXIT_USAGE, "signalfd: %s", strerror(errno));

    nsfd = open_target(netns, &pidfd);
    bind_listeners(); /* in our own namespace, before entering the instance's */
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        fprintf(stderr, "setns %s: %s\n", netns, strerror(errno));
        return EXIT_NETNS;
    }
    close(nsfd);
    if (gid >= 0 && (setgroups(0, NULL) < 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0))
        die(EXIT_USAGE, "setgid: %s", strerror(errno));
    if (uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
        die(EXIT_USAGE, "setuid: %s", strerror(errno));

    if ((g_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die(EXIT_USAGE, "epoll: %s", strerror(errno));
    ep_add(sigfd, EPOLLIN, &sigtag);
    if (pidfd >= 0)
        ep_add(pidfd, EPOLLIN, &pidtag);
    for (int i = 0; i < g_l.nports; i++) {
        g_listen_tag[i] = (struct tag){K_LISTEN, NULL, i};
        ep_add(g_listen[i], EPOLLIN, &g_listen_tag[i]);
    }

    /* Ready: the daemon reads this line, then our stdio goes to /dev/null (its pipes may close). */
    fputs("ready\n", stdout);
    fflush(stdout);
    if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }

    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(g_ep, evs, 64, g_sessions ? 10000 : -1);
        if (n < 0 && errno != EINTR)
            return EXIT_USAGE;
        for (int k = 0; k < n; k++) {
            struct tag *t = evs[k].data.ptr;
            switch (t->kind) {
            case K_SIGNAL:
            case K_PIDFD:
                return 0; /* asked to stop, or the instance is gone */
            case K_LISTEN:
                if (g_l.tcp)
                    tcp_accept(t->index);
                else
                    udp_from_client(t->index);
                break;
            case K_TCP_CLIENT:
            case K_TCP_TARGET:
                /* A flow closed earlier in this batch may still be named by a later event. */
                if (!((struct tcp_flow *)t->obj)->dead)
                    flow_pump(t->obj);
                break;
            case K_UDP_SESSION:
                udp_from_target(t->obj);
                break;
            }
        }
        flows_reap();
        if (g_sessions)
            udp_expire();
    }
}
