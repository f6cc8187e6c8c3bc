/* The file broker behind the file API: one process per request (or batch) that serves requests on
 * an inherited unix socket, resolving every path inside the container's root, and passes opened
 * regular files back with SCM_RIGHTS so the daemon streams their content itself. */
#include "attach_file.h"
#include "attach.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One request being served: its reply and payload. */
struct call {
    int root;
    const struct hlx_file_req *q;
    const char *path;
    const char *arg;
    struct hlx_file_reply r;
    char *data;
    size_t len, cap;
    int fd; /* to pass back, or -1 */
};

static int fail(struct call *c, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct call *c, int e, const char *fmt, ...)
{
    char msg[HLX_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->r.err = e;
    free(c->data);
    c->data = strdup(msg);
    c->len = c->cap = c->data ? strlen(msg) : 0;
    return -1;
}

/* The error of opening path, in the daemon's words (ENOENT is a 404, ELOOP and EXDEV refusals). */
static int open_failed(struct call *c, int e, const char *path)
{
    if (e == ENOENT)
        return fail(c, e, "File not found: \"%s\"", path);
    if (e == ELOOP)
        return fail(c, e, "Failed opening \"%s\": it is a symlink", path);
    if (e == EXDEV)
        return fail(c, e, "Path \"%s\" leads out of the instance", path);
    return fail(c, e, "Failed opening \"%s\": %s", path, strerror(e));
}

/* openat2 confined to dirfd: "..", absolute links and links to the host all stay inside. */
static int open_in(int dirfd, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    int fd, tries = 0;
    while (*path == '/')
        path++;
    if (*path == '\0')
        path = ".";
    /* EAGAIN: a rename or mount raced the lookup; bounded, the container may be doing it on purpose. */
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++tries < 64)));
    return fd;
}

static int append(struct call *c, const char *s, size_t n)
{
    if (c->len + n > HLX_FILE_DATA_MAX)
        return errno = E2BIG, -1;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + n)
            cap *= 2;
        char *d = realloc(c->data, cap);
        if (!d)
            return -1;
        c->data = d;
        c->cap = cap;
    }
    memcpy(c->data + c->len, s, n);
    c->len += n;
    return 0;
}

static void set_stat(struct call *c, const struct stat *st)
{
    c->r.mode = st->st_mode;
    c->r.uid = st->st_uid;
    c->r.gid = st->st_gid;
    c->r.size = (uint64_t)st->st_size;
}

/* Opens the parent of c->path (O_PATH) and points *name at the last component, which must be a
 * real name. The parent's display path is the request's text up to the last slash. */
static int open_parent(struct call *c, char *buf, const char **name)
{
    char *slash;
    size_t n = strlen(c->path);
    memcpy(buf, c->path, n + 1);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    slash = strrchr(buf, '/');
    *name = slash ? slash + 1 : buf;
    if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0)
        return fail(c, EINVAL, "Invalid path \"%s\": it must name a file", c->path);
    if (slash)
        *slash = '\0';
    const char *dir = !slash || buf[0] == '\0' ? "/" : buf;
    int dfd = open_in(c->root, dir, O_PATH | O_DIRECTORY, 0);
    if (dfd < 0)
        return open_failed(c, errno, dir);
    return dfd;
}

/* New nodes get the default owner and mode; existing ones change only what is asked. */
static int set_owner(struct call *c, int fd, int created, mode_t def_mode)
{
    const struct hlx_file_req *q = c->q;
    if (created || q->uid != HLX_FILE_NONE || q->gid != HLX_FILE_NONE) {
        uid_t uid = q->uid != HLX_FILE_NONE ? q->uid : created ? q->def_uid : (uid_t)-1;
        gid_t gid = q->gid != HLX_FILE_NONE ? q->gid : created ? q->def_gid : (gid_t)-1;
        if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
            return fail(c, errno, "Failed chown %s: %s", c->path, strerror(errno));
    }
    if ((created || q->mode != HLX_FILE_NONE) && fchmod(fd, q->mode != HLX_FILE_NONE ? q->mode & 07777 : def_mode) < 0)
        return fail(c, errno, "Failed chmod %s: %s", c->path, strerror(errno));
    return 0;
}

static int list_dir(struct call *c, int pathfd)
{
    struct dirent *e;
    int fd = openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fail(c, errno, "Failed listing %s: %s", c->path, strerror(errno));
    }
    errno = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (append(c, e->d_name, strlen(e->d_name) + 1) < 0)
            break;
        errno = 0;
    }
    int err = errno;
    closedir(d);
    return err ? fail(c, err, "Failed listing %s: %s", c->path, strerror(err)) : 0;
}

static int do_get(struct call *c)
{
    struct stat st, st2;
    char target[HLX_FILE_PATH_MAX];
    int rc = 0, fd = open_in(c->root, c->path, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0)
        return open_failed(c, errno, c->path);
    if (fstat(fd, &st) < 0) {
        rc = fail(c, errno, "Failed reading %s: %s", c->path, strerror(errno));
        goto out;
    }
    set_stat(c, &st);
    switch (st.st_mode & S_IFMT) {
    case S_IFLNK: {
        ssize_t n = readlinkat(fd, "", target, sizeof(target));
        if (n < 0)
            rc = fail(c, errno, "Failed reading link %s: %s", c->path, strerror(errno));
        else
            rc = append(c, target, (size_t)n);
        break;
    }
    case S_IFDIR:
        rc = list_dir(c, fd);
        break;
    case S_IFREG:
        /* Reopened for reading (an O_PATH fd cannot be); non-blocking in case it was swapped
         * for a FIFO meanwhile, and checked to be the same inode. */
        c->fd = open_in(c->root, c->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0);
        if (c->fd < 0) {
            rc = open_failed(c, errno, c->path);
        } else if (fstat(c->fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino ||
                   fcntl(c->fd, F_SETFL, 0) < 0) {
            rc = fail(c, EAGAIN, "Failed opening \"%s\": it changed while being opened", c->path);
        }
        break;
    default:
        rc = fail(c, EINVAL, "Bad file type: \"%s\" is not a regular file, directory or symlink", c->path);
    }
    if (rc < 0 && c->r.err == 0)
        rc = fail(c, errno, "Failed reading %s: %s", c->path, strerror(errno));
out:
    close(fd);
    return rc;
}

/* The node an existing name leads to (a final link followed inside the root), opened once known to be
 * a regular file: devices and FIFOs are never opened. A dangling link's target is created (*created =
 * 1; as a write inside the container would), there, inside the root. */
static int open_existing(struct call *c, int flags, mode_t mode, int *created)
{
    struct stat st, st2;
    int fd = open_in(c->root, c->path, O_PATH, 0);
    if (fd < 0 && errno == ENOENT) {
        fd = open_in(c->root, c->path, flags | O_CREAT | O_NONBLOCK | O_NOCTTY, mode);
        if (fd < 0)
            return open_failed(c, errno, c->path);
        *created = 1;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fcntl(fd, F_SETFL, flags & O_APPEND) < 0) {
            close(fd);
            return fail(c, EAGAIN, "Failed opening \"%s\": it changed while being opened", c->path);
        }
        return fd;
    }
    if (fd < 0)
        return open_failed(c, errno, c->path);
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail(c, e, "Failed reading %s: %s", c->path, strerror(e));
    }
    close(fd);
    if (S_ISDIR(st.st_mode))
        return fail(c, EISDIR, "Failed writing \"%s\": it is a directory", c->path);
    if (!S_ISREG(st.st_mode))
        return fail(c, EINVAL, "Failed writing \"%s\": it is not a regular file", c->path);
    fd = open_in(c->root, c->path, flags | O_NONBLOCK | O_NOCTTY, 0);
    if (fd < 0)
        return open_failed(c, errno, c->path);
    if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || fcntl(fd, F_SETFL, flags & O_APPEND) < 0) {
        close(fd);
        return fail(c, EAGAIN, "Failed opening \"%s\": it changed while being opened", c->path);
    }
    return fd;
}

/* A new file (O_EXCL, so a name that exists is never replaced by accident) or the existing one,
 * truncated only once its owner and mode are set: a refused id changes nothing, a file created under
 * this name is removed again (one created through a dangling link stays, empty and root's). */
static int do_put(struct call *c, char *buf)
{
    struct stat st;
    const char *name;
    int append = (c->q->flags & HLX_FILE_APPEND) != 0, flags = O_WRONLY | (append ? O_APPEND : 0);
    mode_t mode = c->q->mode != HLX_FILE_NONE ? c->q->mode & 07777 : 0644;
    int dfd = open_parent(c, buf, &name), here = 1, created = 1, fd;
    if (dfd < 0)
        return -1;
    fd = open_in(dfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
    if (fd < 0 && errno == EEXIST) {
        here = created = 0;
        fd = open_existing(c, flags, mode, &created);
        if (fd < 0) {
            close(dfd);
            return -1;
        }
    } else if (fd < 0) {
        close(dfd);
        return fail(c, errno, "Failed creating %s: %s", c->path, strerror(errno));
    }
    c->fd = fd;
    if (set_owner(c, fd, created, 0644) < 0 || (!created && !append && ftruncate(fd, 0) < 0) || fstat(fd, &st) < 0) {
        if (!c->r.err)
            fail(c, errno, "Failed writing %s: %s", c->path, strerror(errno));
        if (here)
            unlinkat(dfd, name, 0);
        close(dfd);
        return -1;
    }
    close(dfd);
    set_stat(c, &st);
    return 0;
}

static int do_mkdir(struct call *c, char *buf)
{
    struct stat st;
    const char *name;
    int dfd = open_parent(c, buf, &name), exists, fd, rc;
    if (dfd < 0)
        return -1;
    exists = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        close(dfd);
        return fail(c, EEXIST, "Failed creating \"%s\": a file of another type exists", c->path);
    }
    if (!exists && mkdirat(dfd, name, c->q->mode != HLX_FILE_NONE ? c->q->mode & 07777 : 0755) < 0) {
        close(dfd);
        return fail(c, errno, "Failed creating %s: %s", c->path, strerror(errno));
    }
    fd = open_in(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
    if (fd < 0) {
        rc = open_failed(c, errno, c->path);
    } else {
        rc = set_owner(c, fd, !exists, 0755);
        if (rc == 0 && fstat(fd, &st) == 0)
            set_stat(c, &st);
        close(fd);
    }
    if (rc < 0 && !exists)
        unlinkat(dfd, name, AT_REMOVEDIR);
    close(dfd);
    return rc;
}

/* Made and owned under a temporary name, then renamed over the old node: a refused id changes nothing. */
static int do_symlink(struct call *c, char *buf)
{
    const struct hlx_file_req *q = c->q;
    struct stat st;
    const char *name;
    char tmp[64];
    int dfd, rc = -1;
    if (c->arg[0] == '\0')
        return fail(c, EINVAL, "Invalid symlink: the target is empty");
    if ((dfd = open_parent(c, buf, &name)) < 0)
        return -1;
    snprintf(tmp, sizeof(tmp), ".hyperlxd-link-%d", (int)getpid());
    if (symlinkat(c->arg, dfd, tmp) < 0) {
        fail(c, errno, "Failed creating %s: %s", c->path, strerror(errno));
    } else if (fchownat(dfd, tmp, q->uid != HLX_FILE_NONE ? q->uid : q->def_uid, q->gid != HLX_FILE_NONE ? q->gid : q->def_gid,
                        AT_SYMLINK_NOFOLLOW) < 0) {
        fail(c, errno, "Failed chown %s: %s", c->path, strerror(errno));
    } else if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) && unlinkat(dfd, name, AT_REMOVEDIR) < 0) {
        fail(c, errno, "Failed replacing %s: %s", c->path, strerror(errno)); /* only an empty directory goes */
    } else if (renameat(dfd, tmp, dfd, name) < 0) {
        fail(c, errno, "Failed replacing %s: %s", c->path, strerror(errno));
    } else {
        rc = 0;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            set_stat(c, &st);
    }
    if (rc < 0)
        unlinkat(dfd, tmp, 0);
    close(dfd);
    return rc;
}

static int do_delete(struct call *c, char *buf)
{
    struct stat st;
    const char *name;
    int dfd = open_parent(c, buf, &name), rc = 0;
    if (dfd < 0)
        return -1;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        rc = open_failed(c, errno, c->path);
    else if (unlinkat(dfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        rc = errno == ENOTEMPTY ? fail(c, ENOTEMPTY, "Failed deleting \"%s\": directory not empty", c->path)
                                : fail(c, errno, "Failed deleting %s: %s", c->path, strerror(errno));
    close(dfd);
    return rc;
}

static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return got == 0 && n == 0 ? 0 : -1;
        got += (size_t)n;
    }
    return 1;
}

static int send_all(int sock, const void *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf = (const char *)buf + n;
        len -= (size_t)n;
    }
    return 0;
}

/* The reply header (with the fd, if any, on its bytes), then the payload. */
static int send_reply(int sock, struct hlx_file_reply *r, const void *data, int fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;
    r->has_fd = fd >= 0;
    if (fd >= 0) {
        m.msg_control = cbuf;
        m.msg_controllen = sizeof(cbuf);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &fd, sizeof(int));
    }
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 || send_all(sock, (const char *)r + n, sizeof(*r) - (size_t)n) < 0)
        return -1;
    return send_all(sock, data, r->data_len);
}

/* The first reply: err 0 once inside, else why entering failed (the broker then exits). */
static int hello(int sock, int err, const char *msg)
{
    struct hlx_file_reply r = {.err = err, .data_len = (uint32_t)strlen(msg)};
    return send_reply(sock, &r, msg, -1);
}

int hlx_file_serve(int root, int sock)
{
    static char path[HLX_FILE_PATH_MAX + 1], arg[HLX_FILE_PATH_MAX + 1], buf[HLX_FILE_PATH_MAX + 1];
    struct hlx_file_req q;
    int rc;

    if (hello(sock, 0, "") < 0)
        return 1;
    while ((rc = read_full(sock, &q, sizeof(q))) == 1) {
        struct call c = {.root = root, .q = &q, .path = path, .arg = arg, .fd = -1};
        if (q.path_len > HLX_FILE_PATH_MAX || q.arg_len > HLX_FILE_PATH_MAX)
            return 1;
        if (read_full(sock, path, q.path_len) < 0 || read_full(sock, arg, q.arg_len) < 0)
            return 1;
        path[q.path_len] = arg[q.arg_len] = '\0';
        if (q.path_len == 0 || strlen(path) != q.path_len || strlen(arg) != q.arg_len)
            fail(&c, EINVAL, "Invalid path");
        else if (q.op == HLX_FILE_GET)
            do_get(&c);
        else if (q.op == HLX_FILE_PUT)
            do_put(&c, buf);
        else if (q.op == HLX_FILE_MKDIR)
            do_mkdir(&c, buf);
        else if (q.op == HLX_FILE_SYMLINK)
            do_symlink(&c, buf);
        else if (q.op == HLX_FILE_DELETE)
            do_delete(&c, buf);
        else
            fail(&c, EINVAL, "Unknown file request %u", q.op);
        if (c.r.err && c.fd >= 0) {
            close(c.fd);
            c.fd = -1;
        }
        c.r.data_len = (uint32_t)c.len;
        rc = send_reply(sock, &c.r, c.data, c.fd);
        free(c.data);
        if (c.fd >= 0)
            close(c.fd);
        if (rc < 0)
            return 1;
    }
    return rc == 0 ? 0 : 1;
}

/* The first reply when starting failed: errno e and a message (the broker then exits 125). */
static int start_failed(int sock, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int start_failed(int sock, int e, const char *fmt, ...)
{
    char msg[HLX_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hello(sock, e, msg);
    return HLX_ATTACH_SETUP_FAILED;
}

int hlx_attach_file(pid_t pid, int sock)
{
    struct hlx_err er = {0};
    int root, pidfd, e;
    signal(SIGPIPE, SIG_IGN);
    umask(0);
    /* Only user and mount namespaces, no cgroups: a frozen or pids-limited container must not
     * stall or refuse the broker. Outside the container's PID namespace its processes cannot
     * reach this one (no pid to ptrace or signal). */
    if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
        return e = errno, start_failed(sock, e, "Failed opening pidfd of %d: %s", (int)pid, strerror(e));
    if (hlx_attach_enter(pidfd, pid, CLONE_NEWUSER | CLONE_NEWNS, &er) < 0)
        return start_failed(sock, er.err, "%s", er.msg);
    close(pidfd);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 ||
        setresuid(0, 0, 0) < 0)
        return e = errno, start_failed(sock, e, "Failed switching to the container's root: %s", strerror(e));
    /* setns(CLONE_NEWNS) moved our root and cwd to the namespace's root: the container's "/". */
    if ((root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return e = errno, start_failed(sock, e, "Failed opening the container's root: %s", strerror(e));
    return hlx_file_serve(root, sock);
}

int hlx_file_broker_root(const char *dir, int sock)
{
    int root, e;
    signal(SIGPIPE, SIG_IGN);
    umask(0);
    if ((root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return e = errno, start_failed(sock, e, "Failed opening the root %s: %s", dir, strerror(e));
    return hlx_file_serve(root, sock);
}
