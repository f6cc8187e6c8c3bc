#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hlx_fail(struct hlx_err *er, int e, const char *fmt, ...)
{
    va_list ap;
    if (er) {
        er->err = e;
        va_start(ap, fmt);
        vsnprintf(er->msg, sizeof(er->msg), fmt, ap);
        va_end(ap);
    }
    errno = e;
    return -1;
}

int hlx_write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int rc, e;
    if (fd < 0)
        return -1;
    /* One write: cgroup and id-map files want the whole value in a single write(2). */
    rc = hlx_write_all(fd, s, strlen(s));
    e = errno;
    close(fd);
    errno = e;
    return rc;
}

ssize_t hlx_read_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd < 0)
        return -1;
    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    return (ssize_t)got;
}

int hlx_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"PWR", SIGPWR},
    {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"CHLD", SIGCHLD},
};

int hlx_signal_number(const char *name)
{
    char *end;
    long v;
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    if (strncmp(name, "RTMIN+", 6) == 0) {
        v = strtol(name + 6, &end, 10);
        return (*end || v < 0 || SIGRTMIN + v > SIGRTMAX) ? -1 : SIGRTMIN + (int)v;
    }
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (strcmp(name, signals[i].name) == 0)
            return signals[i].num;
    v = strtol(name, &end, 10);
    if (*name == '\0' || *end || v < 1 || v > SIGRTMAX)
        return -1;
    return (int)v;
}

static const struct {
    const char *name;
    int num;
} errnos[] = {
    {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"EACCES", EACCES}, {"EINVAL", EINVAL},
    {"ENOSYS", ENOSYS}, {"EOPNOTSUPP", EOPNOTSUPP}, {"ENOTSUP", ENOTSUP},
};

int hlx_errno_number(const char *name)
{
    char *end;
    long v;
    for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
        if (strcmp(name, errnos[i].name) == 0)
            return errnos[i].num;
    v = strtol(name, &end, 10);
    if (*name == '\0' || *end || v < 1 || v > 4095)
        return -1;
    return (int)v;
}
