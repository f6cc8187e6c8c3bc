/* Error report from a child to its parent over a close-on-exec pipe.
 *
 * The parent creates the pipe with O_CLOEXEC before cloning. The child either exec()s
 * successfully (the kernel closes the write end: the parent reads EOF and nothing else) or
 * writes one report, (errno, message), and exits. One record per pipe:
 *
 *     int32 errno (host order) | uint32 length (host order) | length bytes of message (no NUL)
 *
 * The message is truncated to HLX_ERRPIPE_MAX bytes. Both ends run on the same host, so host
 * byte order is fine.
 */
#ifndef HLX_ERRPIPE_H
#define HLX_ERRPIPE_H

#include <stddef.h>

#define HLX_ERRPIPE_MAX 1024

/* Writes one report to fd. Async-signal-safe apart from vsnprintf (safe in a freshly cloned
 * child). Returns 0, or -1 with errno set. */
int hlx_errpipe_report(int fd, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads the result from fd until EOF.
 * Returns 0 on EOF with no report (the child exec'd), 1 when a report was read (*err and msg
 * filled, msg NUL-terminated, truncated to msg_size - 1), or -1 with errno set (EPROTO for a
 * short or malformed record). */
int hlx_errpipe_read(int fd, int *err, char *msg, size_t msg_size);

/* write(2) until all of buf is written, retrying EINTR. Returns 0, or -1 with errno set. */
int hlx_write_all(int fd, const void *buf, size_t len);

#endif
