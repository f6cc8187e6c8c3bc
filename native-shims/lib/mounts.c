#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FD_PATH_MAX 32

struct ctx {
    const struct hlx_spec *spec;
    int rootfd;
    int userns;
    struct hlx_err *er;
};

/* Opens rel (leading '/' ignored) inside the rootfs; flags as for openat2. */
static int open_in_root(int rootfd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*rel == '/')
        rel++;
    if (*rel == '\0')
        rel = ".";
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
}

/* Creates name (a directory, or an empty file when file is set) in the directory rel resolves to
 * inside the root; an existing entry of that name is left as it is (EEXIST). */
static int create_in(int rootfd, const char *rel, const char *name, int file)
{
    int pfd = open_in_root(rootfd, rel, O_PATH | O_DIRECTORY, 0), rc, e;
    if (pfd < 0)
        return -1;
    if (file) {
        /* O_NOFOLLOW|O_EXCL: a symlink planted at the name is never followed out of the root. */
        rc = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (rc >= 0)
            close(rc);
    } else {
        rc = mkdirat(pfd, name, 0755);
    }
    e = errno;
    close(pfd);
    errno = e;
    return rc < 0 && errno != EEXIST ? -1 : 0;
}

/* Makes sure rel exists (directory, or an empty file when file is set); returns an O_PATH fd.
 * Missing levels are created one at a time, as LXD does for mount targets, each as the container's
 * root and each parent resolved inside the root (RESOLVE_IN_ROOT): a symlink in the rootfs can
 * redirect a level only to another place inside the container, never to the host. */
static int ensure_target(struct ctx *c, const char *rel, int file)
{
    char path[4096];
    size_t len;
    int fd = open_in_root(c->rootfd, rel, O_PATH, 0);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    while (*rel == '/')
        rel++;
    if ((len = strlen(rel)) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, rel, len + 1);
    for (char *comp = path, *slash;; comp = slash + 1) {
        slash = strchr(comp, '/');
        if (slash)
            *slash = '\0';
        if (*comp) {
            /* path is now the prefix ending with comp; comp's parent is what precedes it. */
            char saved = comp == path ? '\0' : comp[-1];
            if (comp != path)
                comp[-1] = '\0';
            if (create_in(c->rootfd, comp == path ? "" : path, comp, file && !slash) < 0)
                return -1;
            if (comp != path)
                comp[-1] = saved;
        }
        if (!slash)
            break;
        *slash = '/';
    }
    return open_in_root(c->rootfd, rel, O_PATH, 0);
}

int hlx_mounts_ensure_target(int rootfd, const char *rel, int file)
{
    struct ctx c = {.rootfd = rootfd, .userns = -1};
    return ensure_target(&c, rel, file);
}

int hlx_mounts_open_in_root(int rootfd, const char *rel, int flags)
{
    return open_in_root(rootfd, rel, flags, 0);
}

static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0)
        return 0;
    if (sv.f_flag & ST_NOSUID)
        f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV)
        f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC)
        f |= MS_NOEXEC;
    return f;
}

/* mount(2) onto rel inside the rootfs. MS_RDONLY with MS_BIND becomes bind + read-only remount
 * that keeps the source's locked flags (a user namespace may not clear them). */
static int mount_in(struct ctx *c, const char *src, const char *rel, const char *type,
                    unsigned long flags, const char *data, int file)
{
    char fdpath[FD_PATH_MAX];
    int fd = ensure_target(c, rel, file), rc = 0;
    if (fd < 0)
        return hlx_fail(c->er, errno, "Failed creating mount target %s: %s", rel, strerror(errno));
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
    if (mount(src, fdpath, type, flags & ~(unsigned long)((flags & MS_BIND) ? MS_RDONLY : 0), data) < 0)
        rc = hlx_fail(c->er, errno, "Failed mounting %s on %s: %s", type ? type : src, rel,
                      strerror(errno));
    close(fd);
    if (rc == 0 && (flags & MS_BIND) && (flags & MS_RDONLY)) {
        /* Re-open: the fd above pointed below the new mount. */
        fd = open_in_root(c->rootfd, rel, O_PATH, 0);
        if (fd < 0)
            return hlx_fail(c->er, errno, "Failed opening %s: %s", rel, strerror(errno));
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        if (mount(NULL, fdpath, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(fdpath), NULL) < 0)
            rc = hlx_fail(c->er, errno, "Failed making %s read-only: %s", rel, strerror(errno));
        close(fd);
    }
    return rc;
}

/* O_PATH fds of the spec's bind sources, opened by hlx_mounts_prepare_root (the child execs or exits after). */
static int *bind_srcfds;

int hlx_mounts_prepare_root(const struct hlx_spec *spec, int idmapfd, struct hlx_err *er)
{
    int fd;
    /* Slave, not private: host unmounts still reach us, our mounts never reach the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return hlx_fail(er, errno, "Failed making / a slave mount: %s", strerror(errno));
    if (idmapfd >= 0) {
        if (syscall(SYS_move_mount, idmapfd, "", AT_FDCWD, spec->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return hlx_fail(er, errno, "Failed attaching the idmapped rootfs %s: %s", spec->rootfs,
                            strerror(errno));
    } else if (mount(spec->rootfs, spec->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        return hlx_fail(er, errno, "Failed bind-mounting rootfs %s: %s", spec->rootfs,
                        strerror(errno));
    fd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return hlx_fail(er, errno, "Failed opening rootfs %s: %s", spec->rootfs, strerror(errno));
    /* The bind sources too, while our kernel ids are still the host's root (a user namespace's root
     * is another id on the host: a 0700 directory on the way, such as a pool's, would refuse it). */
    if (spec->n_binds > 0 && !(bind_srcfds = calloc((size_t)spec->n_binds, sizeof(int))))
        return hlx_fail(er, ENOMEM, "Out of memory");
    for (int i = 0; i < spec->n_binds; i++)
        if ((bind_srcfds[i] = open(spec->binds[i].src, O_PATH | O_CLOEXEC)) < 0)
            return hlx_fail(er, errno, "Failed opening bind source %s: %s", spec->binds[i].src, strerror(errno));
    return fd;
}

static int setup_dev(struct ctx *c, const char *console)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {
        {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},
    };
    char rel[64], opts[128];
    int devfd;

    if (mount_in(c, "none", "dev", "tmpfs", MS_NOSUID, "mode=755,size=512k", 0) < 0)
        return -1;
    /* Device nodes cannot be created in a user namespace: bind the host's (for everyone alike). */
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        snprintf(rel, sizeof(rel), "dev/%s", nodes[i]);
        snprintf(opts, sizeof(opts), "/dev/%s", nodes[i]);
        if (mount_in(c, opts, rel, NULL, MS_BIND, NULL, 1) < 0)
            return -1;
    }
    devfd = open_in_root(c->rootfd, "dev", O_PATH | O_DIRECTORY, 0);
    if (devfd < 0)
        return hlx_fail(c->er, errno, "Failed opening /dev: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        if (symlinkat(links[i][1], devfd, links[i][0]) < 0 && errno != EEXIST) {
            int e = errno;
            close(devfd);
            return hlx_fail(c->er, e, "Failed creating /dev/%s: %s", links[i][0], strerror(e));
        }
    close(devfd);
    /* gid=5 (tty) only when the container maps it. */
    snprintf(opts, sizeof(opts), "newinstance,ptmxmode=0666,mode=0620%s",
             !c->userns || hlx_idmap_outside(c->spec->gidmap, c->spec->n_gidmap, 5) >= 0 ? ",gid=5" : "");
    if (mount_in(c, "devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, opts, 0) < 0 ||
        mount_in(c, "shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 0) < 0 ||
        mount_in(c, "mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0) < 0)
        return -1;
    if (console && mount_in(c, console, "dev/console", NULL, MS_BIND, NULL, 1) < 0)
        return -1;
    return 0;
}

/* LXD-like protections: kernel internals masked for everyone; a privileged container (no user
 * namespace to confine it) also gets /proc/sys, /proc/sysrq-trigger and /sys read-only. With
 * nesting, proc and sys stay whole and writable: the kernel refuses a new proc or sysfs mount in
 * the container (a nested one) while anything on top of the existing one hides part of it. */
static int setup_proc_sys(struct ctx *c)
{
    static const char *const masked[] = {"proc/kcore", "proc/timer_list", "proc/sched_debug"};
    unsigned long ro = c->userns || c->spec->nesting ? 0 : MS_RDONLY;

    if (mount_in(c, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0) < 0)
        return -1;
    for (size_t i = 0; !c->spec->nesting && i < sizeof(masked) / sizeof(masked[0]); i++) {
        int fd = open_in_root(c->rootfd, masked[i], O_PATH, 0);
        if (fd < 0)
            continue; /* not in this kernel */
        close(fd);
        if (mount_in(c, "/dev/null", masked[i], NULL, MS_BIND, NULL, 1) < 0)
            return -1;
    }
    if (!c->userns && !c->spec->nesting) {
        int fd = open_in_root(c->rootfd, "proc/sysrq-trigger", O_PATH, 0);
        if (fd >= 0)
            close(fd); /* absent without CONFIG_MAGIC_SYSRQ */
        if (mount_in(c, "/proc/sys", "proc/sys", NULL, MS_BIND | MS_REC | MS_RDONLY, NULL, 0) < 0 ||
            (fd >= 0 && mount_in(c, "/proc/sysrq-trigger", "proc/sysrq-trigger", NULL,
                                 MS_BIND | MS_RDONLY, NULL, 1) < 0))
            return -1;
    }
    /* sysfs needs a network namespace owned by our user namespace; else bind the host's. */
    if (c->userns && c->spec->host_netns)
        return mount_in(c, "/sys", "sys", NULL, MS_BIND | MS_REC | MS_RDONLY, NULL, 0);
    return mount_in(c, "sysfs", "sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | ro, NULL, 0);
}

/* The container's own cgroups at /sys/fs/cgroup, as LXD's cgroup namespace view: a read-only tmpfs
 * holding one directory per hierarchy, each a bind of the container's group (writable: the daemon
 * delegates the group to the container's root, limits stay the host's), or the group itself on
 * /sys/fs/cgroup for a pure cgroup2 host (name "."). Nothing of the host's hierarchy shows. */
static int setup_cgroupfs(struct ctx *c)
{
    const struct hlx_spec *s = c->spec;
    char rel[128];
    int tmpfs = 0;

    if (s->n_cgroupfs == 0)
        return 0;
    for (int i = 0; i < s->n_cgroupfs; i++)
        if (strcmp(s->cgroupfs[i].dst, ".") != 0)
            tmpfs = 1;
    if (tmpfs && mount_in(c, "cgroup", "sys/fs/cgroup", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "mode=755,size=64k", 0) < 0)
        return -1;
    for (int i = 0; i < s->n_cgroupfs; i++) {
        const struct hlx_bind *b = &s->cgroupfs[i];
        if (strcmp(b->dst, ".") == 0)
            snprintf(rel, sizeof(rel), "sys/fs/cgroup");
        else if (snprintf(rel, sizeof(rel), "sys/fs/cgroup/%s", b->dst) >= (int)sizeof(rel))
            return hlx_fail(c->er, ENAMETOOLONG, "cgroupfs name %s is too long", b->dst);
        if (mount_in(c, b->src, rel, NULL, MS_BIND, NULL, 0) < 0)
            return -1;
    }
    if (tmpfs) {
        int fd = open_in_root(c->rootfd, "sys/fs/cgroup", O_PATH | O_DIRECTORY, 0);
        char fdpath[FD_PATH_MAX];
        if (fd < 0)
            return hlx_fail(c->er, errno, "Failed opening /sys/fs/cgroup: %s", strerror(errno));
        snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
        if (mount(NULL, fdpath, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
            int e = errno;
            close(fd);
            return hlx_fail(c->er, e, "Failed making /sys/fs/cgroup read-only: %s", strerror(e));
        }
        close(fd);
    }
    return 0;
}

int hlx_mounts_setup(const struct hlx_spec *spec, int rootfd, const char *console,
                     struct hlx_err *er)
{
    struct ctx c = {.spec = spec, .rootfd = rootfd, .userns = spec->n_uidmap > 0, .er = er};
    struct stat st;

    if (setup_proc_sys(&c) < 0 || setup_cgroupfs(&c) < 0 || setup_dev(&c, console) < 0)
        return -1;
    for (int i = 0; i < spec->n_binds; i++) {
        const struct hlx_bind *b = &spec->binds[i];
        char src[FD_PATH_MAX];
        int file;
        if (bind_srcfds) {
            snprintf(src, sizeof(src), "/proc/self/fd/%d", bind_srcfds[i]);
            file = fstat(bind_srcfds[i], &st) == 0 && !S_ISDIR(st.st_mode);
        } else {
            snprintf(src, sizeof(src), "%s", "");
            file = stat(b->src, &st) == 0 && !S_ISDIR(st.st_mode);
        }
        if (mount_in(&c, bind_srcfds ? src : b->src, b->dst, NULL, MS_BIND | MS_REC | (b->ro ? MS_RDONLY : 0), NULL, file) < 0)
            return -1;
    }
    if (fchdir(rootfd) < 0)
        return hlx_fail(er, errno, "Failed entering rootfs: %s", strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return hlx_fail(er, errno, "Failed pivot_root: %s", strerror(errno));
    /* The old root is stacked on "."; detach it. */
    if (umount2(".", MNT_DETACH) < 0)
        return hlx_fail(er, errno, "Failed detaching the old root: %s", strerror(errno));
    if (chdir("/") < 0)
        return hlx_fail(er, errno, "Failed chdir /: %s", strerror(errno));
    return 0;
}
