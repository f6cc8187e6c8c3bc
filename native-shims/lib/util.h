/* Small helpers shared by the native shims: whole-file writes, mkdir -p, signal names. */
#ifndef HLX_UTIL_H
#define HLX_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Error text buffer filled by the library functions that fail (the errno travels separately). */
#define HLX_ERR_MAX 1024 /* = HLX_ERRPIPE_MAX: a report fits one record */
struct hlx_err {
    int err;                 /* errno value */
    char msg[HLX_ERR_MAX];   /* LXD-style message: "Failed mounting proc: ..." */
};

/* Records errno value e and a formatted message into *er; always returns -1. */
int hlx_fail(struct hlx_err *er, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

int hlx_write_all(int fd, const void *buf, size_t len);
/* Writes s to an existing file (no O_CREAT). Returns 0 or -1 with errno set. */
int hlx_write_file(const char *path, const char *s);
/* Reads up to size-1 bytes of a file, NUL-terminated. Returns the length or -1. */
ssize_t hlx_read_file(const char *path, char *buf, size_t size);
/* mkdir -p with mode; existing directories are fine. */
int hlx_mkdir_p(const char *path, mode_t mode);

/* "SIGPWR", "PWR", "30" -> 30; -1 when unknown. */
int hlx_signal_number(const char *name);
/* "EPERM" or "1" -> 1; -1 when unknown. */
int hlx_errno_number(const char *name);

#endif
