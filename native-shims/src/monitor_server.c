/* The monitor's event loop: console pty -> ring buffer, SIGCHLD (subreaper), stop escalation and
 * the line protocol on the unix socket (README.md, "Monitor protocol"). */
#include "monitor.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mon_status_line(const struct mon *m, char *buf, size_t size)
{
    int n = snprintf(buf, size, "name=%s state=%s init_pid=%d monitor_pid=%d", m->name,
                     m->stopped ? "stopped" : "running", (int)m->init_pid, (int)m->monitor_pid);
    if (m->stopped && n > 0 && (size_t)n < size) {
        int st = m->wait_status;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 0, sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
        /* reboot(2) in a PID namespace ends init with SIGINT (halt/poweroff) or SIGHUP (reboot). */
        const char *reason = !sig ? "exited" : sig == SIGINT ? "halt" : sig == SIGHUP ? "reboot" : "killed";
        snprintf(buf + n, size - (size_t)n, " exit_code=%d exit_signal=%d reason=%s", code, sig, reason);
    }
}

int mon_write_state(const struct mon *m)
{
    char tmp[4200], line[512];
    int fd, rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", m->state_path);
    mon_status_line(m, line, sizeof(line) - 1);
    strcat(line, "\n");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    rc = hlx_write_all(fd, line, strlen(line));
    close(fd);
    return rc < 0 ? -1 : rename(tmp, m->state_path);
}

static void client_close(struct mon_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void reply(struct mon_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct mon_client *c, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    if (send(c->fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
        client_close(c);
}

static void reply_status(struct mon *m, struct mon_client *c)
{
    char line[512];
    mon_status_line(m, line, sizeof(line));
    reply(c, "ok %s", line);
}

static int console_busy(const struct mon *m)
{
    for (int i = 0; i < MON_MAX_CLIENTS; i++)
        if (m->clients[i].fd >= 0 && m->clients[i].mode != CLIENT_LINES)
            return 1;
    return 0;
}

static void send_console_fd(struct mon *m, struct mon_client *c)
{
    char data[] = "ok\n", ctl[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {.iov_base = data, .iov_len = 3};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &m->master, sizeof(int));
    if (sendmsg(c->fd, &msg, MSG_NOSIGNAL) != 3)
        client_close(c);
    else
        c->mode = CLIENT_CONSOLE_FD;
}

static int pidfd_signal(struct mon *m, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, m->pidfd, sig, NULL, 0);
}

static void handle_request(struct mon *m, struct mon_client *c, char *line)
{
    char *arg = strchr(line, ' ');
    int sig;
    if (arg)
        *arg++ = '\0';

    if (strcmp(line, "status") == 0) {
        reply_status(m, c);
    } else if (strcmp(line, "wait") == 0) {
        if (m->stopped)
            reply_status(m, c);
        else
            c->waiting = 1;
    } else if (strcmp(line, "stop") == 0 || strcmp(line, "kill") == 0) {
        int stop = line[0] == 's';
        long timeout = -1;
        char *t = arg ? strchr(arg, ' ') : NULL;
        if (t) {
            *t++ = '\0';
            timeout = strtol(t, &t, 10);
        }
        if (!arg || (sig = hlx_signal_number(arg)) < 0 || (t && (*t || timeout < 0)) || (!stop && t)) {
            reply(c, "err %d %s", EINVAL, stop ? "usage: stop SIGNAL [TIMEOUT_SECONDS]" : "usage: kill SIGNAL");
            return;
        }
        if (m->stopped) {
            if (stop)
                reply_status(m, c);
            else
                reply(c, "err %d container is stopped", ESRCH);
            return;
        }
        if (pidfd_signal(m, sig) < 0) {
            reply(c, "err %d Failed sending signal: %s", errno, strerror(errno));
            return;
        }
        if (!stop) {
            reply(c, "ok");
            return;
        }
        if (timeout >= 0) {
            long long d = now_ms() + timeout * 1000;
            if (m->kill_deadline_ms == 0 || d < m->kill_deadline_ms)
                m->kill_deadline_ms = d;
        }
        c->waiting = 1;
    } else if (strcmp(line, "console-log") == 0) {
        char hdr[32];
        int n = snprintf(hdr, sizeof(hdr), "ok %zu\n", m->ring.used);
        if (send(c->fd, hdr, (size_t)n, MSG_NOSIGNAL) != n || hlx_ring_dump(&m->ring, c->fd) < 0)
            client_close(c);
    } else if (strcmp(line, "console-attach") == 0 || strcmp(line, "console-stream") == 0) {
        if (m->stopped)
            reply(c, "err %d container is stopped", ESRCH);
        else if (console_busy(m))
            reply(c, "err %d console is busy", EBUSY);
        else if (line[8] == 'a')
            send_console_fd(m, c);
        else {
            reply(c, "ok");
            if (c->fd >= 0)
                c->mode = CLIENT_STREAM;
        }
    } else {
        reply(c, "err %d unknown request \"%s\"", EINVAL, line);
    }
}

static void client_readable(struct mon *m, struct mon_client *c)
{
    char buf[4096];
    ssize_t n;

    if (c->mode == CLIENT_STREAM) {
        n = recv(c->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            client_close(c);
        else
            hlx_write_all(m->master, buf, (size_t)n); /* keystrokes: small, pty input buffer */
        return;
    }
    n = recv(c->fd, c->in + c->len, sizeof(c->in) - c->len, 0);
    if (n <= 0) {
        if (c->waiting && n == 0)
            c->read_closed = 1;
        else
            client_close(c);
        return;
    }
    if (c->mode == CLIENT_CONSOLE_FD)
        return; /* nothing more is expected on this connection */
    c->len += (size_t)n;
    for (;;) {
        char *nl = memchr(c->in, '\n', c->len);
        if (!nl) {
            if (c->len == sizeof(c->in)) {
                reply(c, "err %d request too long", E2BIG);
                client_close(c);
            }
            return;
        }
        *nl = '\0';
        if (nl > c->in && nl[-1] == '\r')
            nl[-1] = '\0';
        handle_request(m, c, c->in);
        if (c->fd < 0 || c->mode != CLIENT_LINES)
            return;
        c->len -= (size_t)(nl + 1 - c->in);
        memmove(c->in, nl + 1, c->len);
    }
}

/* Console output: into the ring, and to the streaming client if any (dropped when it is slow). */
static void master_readable(struct mon *m)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(m->master, buf, sizeof(buf));
        if (n <= 0)
            return;
        hlx_ring_write(&m->ring, buf, (size_t)n);
        for (int i = 0; i < MON_MAX_CLIENTS; i++)
            if (m->clients[i].fd >= 0 && m->clients[i].mode == CLIENT_STREAM)
                send(m->clients[i].fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
}

static void reap(struct mon *m)
{
    struct signalfd_siginfo si;
    int status;
    pid_t pid;
    while (read(m->sig_fd, &si, sizeof(si)) > 0)
        ;
    /* As subreaper we also collect orphans that were re-parented to us. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        if (pid == m->init_pid) {
            m->stopped = 1;
            m->wait_status = status;
        }
}

static void accept_client(struct mon *m)
{
    struct timeval tv = {.tv_sec = 2};
    int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (int i = 0; i < MON_MAX_CLIENTS; i++)
        if (m->clients[i].fd < 0) {
            /* A client that stops reading cannot stall the monitor for long. */
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            m->clients[i].fd = fd;
            return;
        }
    close(fd); /* full: the daemon retries */
}

void mon_serve(struct mon *m)
{
    struct pollfd pfd[3 + MON_MAX_CLIENTS];
    int map[MON_MAX_CLIENTS];

    for (int i = 0; i < MON_MAX_CLIENTS; i++)
        m->clients[i].fd = -1;
    while (!m->stopped) {
        int n = 0, timeout = -1, paused = 0;
        for (int i = 0; i < MON_MAX_CLIENTS; i++)
            if (m->clients[i].fd >= 0 && m->clients[i].mode == CLIENT_CONSOLE_FD)
                paused = 1; /* the daemon reads the pty itself while it holds the fd */
        pfd[n++] = (struct pollfd){.fd = m->listen_fd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = m->sig_fd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = paused ? -1 : m->master, .events = POLLIN};
        for (int i = 0; i < MON_MAX_CLIENTS; i++) {
            struct mon_client *c = &m->clients[i];
            map[i] = -1;
            if (c->fd >= 0 && !c->read_closed) {
                map[i] = n;
                pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            }
        }
        if (m->kill_deadline_ms) {
            long long left = m->kill_deadline_ms - now_ms();
            timeout = left < 0 ? 0 : (int)left;
        }
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
            break;
        if (m->kill_deadline_ms && now_ms() >= m->kill_deadline_ms) {
            pidfd_signal(m, SIGKILL);
            m->kill_deadline_ms = 0;
        }
        if (pfd[1].revents)
            reap(m);
        if (pfd[2].revents)
            master_readable(m);
        if (pfd[0].revents)
            accept_client(m);
        for (int i = 0; i < MON_MAX_CLIENTS; i++)
            if (map[i] >= 0 && pfd[map[i]].revents && m->clients[i].fd >= 0)
                client_readable(m, &m->clients[i]);
    }
    /* Stopped: last console output, the record, then the replies that were waiting for it. */
    master_readable(m);
    mon_write_state(m);
    for (int i = 0; i < MON_MAX_CLIENTS; i++) {
        struct mon_client *c = &m->clients[i];
        if (c->fd >= 0 && c->waiting)
            reply_status(m, c);
        client_close(c);
    }
}
