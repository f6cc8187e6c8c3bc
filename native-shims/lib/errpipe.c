#include "errpipe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Lives here, the lowest library, so that both the errpipe and the namespace helpers share it. */
int hlx_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads up to len bytes; returns the count read (less than len only at EOF) or -1. */
static ssize_t read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int hlx_errpipe_report(int fd, int err, const char *fmt, ...)
{
    struct {
        int32_t err;
        uint32_t len;
        char msg[HLX_ERRPIPE_MAX];
    } rec;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(rec.msg, sizeof(rec.msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(rec.msg))
        n = sizeof(rec.msg) - 1;
    rec.err = err;
    rec.len = (uint32_t)n;
    /* One write of header and message together: pipes up to PIPE_BUF are atomic. */
    return hlx_write_all(fd, &rec, offsetof(__typeof__(rec), msg) + (size_t)n);
}

int hlx_errpipe_read(int fd, int *err, char *msg, size_t msg_size)
{
    int32_t hdr[2];
    char buf[HLX_ERRPIPE_MAX];
    uint32_t len;
    ssize_t n;

    n = read_full(fd, hdr, sizeof(hdr));
    if (n < 0)
        return -1;
    if (n == 0)
        return 0;
    if ((size_t)n < sizeof(hdr))
        goto proto;
    len = (uint32_t)hdr[1];
    if (len >= HLX_ERRPIPE_MAX)
        goto proto;
    n = read_full(fd, buf, len);
    if (n < 0)
        return -1;
    if ((size_t)n != len)
        goto proto;
    /* Anything after the record is a protocol error too. */
    n = read_full(fd, hdr, 1);
    if (n < 0)
        return -1;
    if (n != 0)
        goto proto;

    *err = hdr[0];
    if (msg_size > 0) {
        size_t copy = len < msg_size - 1 ? len : msg_size - 1;
        memcpy(msg, buf, copy);
        msg[copy] = '\0';
    }
    return 1;

proto:
    errno = EPROTO;
    return -1;
}
