#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_map(pid_t pid, const char *file, const struct hlx_idmap *m, int n,
                     struct hlx_err *er)
{
    char path[64], buf[HLX_MAX_IDMAPS * 40];
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%lu %lu %lu\n", m[i].inside,
                                m[i].outside, m[i].count);
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    if (hlx_write_file(path, buf) < 0)
        return hlx_fail(er, errno, "Failed writing %s: %s", file, strerror(errno));
    return 0;
}

int hlx_idmap_write(pid_t pid, const struct hlx_spec *spec, struct hlx_err *er)
{
    if (write_map(pid, "uid_map", spec->uidmap, spec->n_uidmap, er) < 0)
        return -1;
    return write_map(pid, "gid_map", spec->gidmap, spec->n_gidmap, er);
}

/* Idmapped mounts (open_tree + mount_setattr(MOUNT_ATTR_IDMAP)). Raw syscalls: older glibcs have no
 * wrappers, and <sys/mount.h> only gained them in 2.36. */
int hlx_idmap_mount_fd(const char *path, int usernsfd, struct hlx_err *er)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)usernsfd};
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0)
        return hlx_fail(er, errno, "Failed cloning the mount tree of %s: %s", path, strerror(errno));
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
        int e = errno;
        close(fd);
        return hlx_fail(er, e, "Failed idmapping the mount of %s: %s", path, strerror(e));
    }
    return fd;
}

int hlx_idmap_mount_for(pid_t pid, const char *path, struct hlx_err *er)
{
    char nspath[64];
    int usernsfd, fd;
    snprintf(nspath, sizeof(nspath), "/proc/%d/ns/user", (int)pid);
    usernsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    if (usernsfd < 0)
        return hlx_fail(er, errno, "Failed opening %s: %s", nspath, strerror(errno));
    fd = hlx_idmap_mount_fd(path, usernsfd, er);
    close(usernsfd);
    return fd;
}

int hlx_idmap_probe(const char *path, struct hlx_err *er)
{
    static const struct hlx_idmap one = {.inside = 0, .outside = 65534, .count = 1};
    struct hlx_spec spec = {.n_uidmap = 1, .n_gidmap = 1, .uidmap = {one}, .gidmap = {one}};
    struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    int p[2], fd = -1;
    char c;
    pid_t pid;

    /* A throwaway user namespace: a child that waits for EOF on a pipe. */
    if (pipe2(p, O_CLOEXEC) < 0)
        return hlx_fail(er, errno, "Failed creating a pipe: %s", strerror(errno));
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return hlx_fail(er, e, "Failed creating a user namespace: %s", strerror(e));
    }
    if (pid == 0) {
        close(p[1]);
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(p[0]);
    if (hlx_idmap_write(pid, &spec, er) == 0 && (fd = hlx_idmap_mount_for(pid, path, er)) >= 0)
        close(fd); /* never attached: the detached tree goes away with its last fd */
    close(p[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return fd >= 0 ? 0 : -1;
}
