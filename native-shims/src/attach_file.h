/* The file broker: file API requests served from inside a container (see README.md, "File broker"). */
#ifndef HLX_ATTACH_FILE_H
#define HLX_ATTACH_FILE_H

#include <stdint.h>
#include <sys/types.h>

#define HLX_FILE_NONE 0xffffffffu /* uid, gid or mode not given */
#define HLX_FILE_APPEND 1u        /* request flag (PUT): append instead of truncating */
#define HLX_FILE_PATH_MAX 4096    /* longest path or symlink target accepted */
#define HLX_FILE_DATA_MAX (64u << 20) /* longest reply payload (a directory listing) */

enum hlx_file_op {
    HLX_FILE_GET = 1,     /* lstat; a link's target, a directory's names or a regular file's fd */
    HLX_FILE_PUT = 2,     /* create or truncate (append) a regular file, set owner/mode; its fd */
    HLX_FILE_MKDIR = 3,   /* create a directory if missing, set owner/mode */
    HLX_FILE_SYMLINK = 4, /* (re)place a symlink */
    HLX_FILE_DELETE = 5,  /* unlink or rmdir (empty only) */
};

/* Daemon -> broker, host byte order, followed by path_len bytes of path and arg_len bytes of
 * symlink target (no NULs). */
struct hlx_file_req {
    uint32_t op;
    uint32_t flags;
    uint32_t uid, gid;         /* HLX_FILE_NONE: keep an existing node's id, def_* for a new node */
    uint32_t def_uid, def_gid; /* owner of a new node when uid/gid are not given */
    uint32_t mode;             /* permission bits; HLX_FILE_NONE: keep, or 0644/0755 for a new node */
    uint32_t path_len;
    uint32_t arg_len;
};

/* Broker -> daemon: one per request, plus one first "hello" (err 0, or why entering failed).
 * Followed by data_len bytes: the error message (err != 0), a link target, or NUL-terminated
 * directory entry names. With has_fd, an fd rides on the header's bytes (SCM_RIGHTS). */
struct hlx_file_reply {
    int32_t err;       /* 0 or an errno value */
    uint32_t mode;     /* st_mode (type and permissions) of the node */
    uint32_t uid, gid; /* owner as the broker sees it: ids inside the container */
    uint64_t size;
    uint32_t data_len;
    uint32_t has_fd;
};

/* Serves requests on sock until EOF, resolving every path inside root (an O_PATH directory fd).
 * Returns the exit status: 0 at EOF, 1 on a protocol error. */
int hlx_file_serve(int root, int sock);

/* `attach --pid PID --file-broker FD`: enters pid's user and mount namespaces as the container's
 * root, then serves on sock. */
int hlx_attach_file(pid_t pid, int sock);

/* `file-broker --root DIR --fd FD`: serves on sock with DIR as the root (a stopped container's
 * rootfs seen from the host; the daemon translates ids). */
int hlx_file_broker_root(const char *dir, int sock);

#endif
