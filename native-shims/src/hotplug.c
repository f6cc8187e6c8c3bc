/* hyperlxd-nsexec mount / umount: a bind mount put into (or taken out of) a running container.
 *
 *   mount  --pid PID --source HOSTPATH --target PATH [--ro] [--uid U --gid G]
 *   umount --pid PID --target PATH [--remove]
 *
 * mount clones SOURCE as a detached mount on the host side (open_tree(OPEN_TREE_CLONE), read-only with
 * mount_setattr when --ro), joins the container's mount namespace only (the helper keeps host root's
 * capabilities, so the detached tree may be attached there), creates the missing levels of TARGET inside
 * the container's root (openat2(RESOLVE_IN_ROOT): a planted symlink cannot lead out of it) with the
 * file-system ids U/G (host ids of the container's root, so they belong to it), and attaches the
 * tree there with move_mount. umount detaches what is mounted at TARGET (nothing mounted: success) and,
 * with --remove, deletes TARGET when it is the empty file a node's mount point was made as. */
#include "hotplug.h"
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "hyperlxd-nsexec: errno=%d: %s %s: %s\n", errno, what, path, strerror(errno));
    return 1;
}

static void usage(void)
{
    fputs("usage: hyperlxd-nsexec mount --pid PID --source HOSTPATH --target PATH [--ro] [--uid U --gid G]\n"
          "       hyperlxd-nsexec umount --pid PID --target PATH [--remove]\n",
          stderr);
    exit(2);
}

static long number(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *s == '-' || *end || v > 0x7fffffff)
        usage();
    return (long)v;
}

/* Joins PID's mount namespace (only: host credentials stay) and returns an O_PATH fd of its root. */
static int enter(long pid)
{
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0), root;
    if (pidfd < 0)
        return -1;
    if (setns(pidfd, CLONE_NEWNS) < 0) {
        int e = errno;
        close(pidfd);
        errno = e;
        return -1;
    }
    close(pidfd);
    /* setns made the namespace's root our root and cwd. */
    root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return root;
}

static int do_mount(long pid, const char *source, const char *target, int ro, long uid, long gid)
{
    struct stat st;
    int tree, root, fd;

    if (stat(source, &st) < 0)
        return fail("Failed reading", source);
    tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        return fail("Failed cloning a mount of", source);
    if (ro) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
            return fail("Failed making read-only the mount of", source);
    }
    if ((root = enter(pid)) < 0)
        return fail("Failed entering the mount namespace of pid", "");
    /* New levels belong to the container's root: created with its ids as file-system ids. */
    if (uid >= 0) {
        setfsgid((gid_t)gid);
        setfsuid((uid_t)uid);
    }
    fd = hlx_mounts_ensure_target(root, target, !S_ISDIR(st.st_mode));
    if (uid >= 0) {
        int e = errno;
        setfsuid(0);
        setfsgid(0);
        errno = e;
    }
    if (fd < 0)
        return fail("Failed creating the mount point", target);
    if (syscall(SYS_move_mount, tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return fail("Failed mounting onto", target);
    return 0;
}

static int do_umount(long pid, const char *target, int remove)
{
    char fdpath[32], parent[4096];
    const char *slash, *base;
    struct stat st;
    int root, fd, pfd;

    /* The host's /proc, kept as our cwd: the container's /proc (what "/proc" means once inside) has no
     * entry for us, and umount2 takes a path, so the target is reached as self/fd/N relative to it. */
    int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (proc < 0)
        return fail("Failed opening", "/proc");
    if ((root = enter(pid)) < 0)
        return fail("Failed entering the mount namespace of pid", "");
    if (fchdir(proc) < 0)
        return fail("Failed entering", "/proc");
    fd = hlx_mounts_open_in_root(root, target, O_PATH);
    if (fd < 0)
        return errno == ENOENT ? 0 : fail("Failed opening", target);
    snprintf(fdpath, sizeof(fdpath), "self/fd/%d", fd);
    /* EINVAL: nothing is mounted there (any more). */
    if (umount2(fdpath, MNT_DETACH) < 0 && errno != EINVAL)
        return fail("Failed unmounting", target);
    close(fd);
    if (!remove)
        return 0;
    fd = hlx_mounts_open_in_root(root, target, O_PATH | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != 0)
        return 0;
    close(fd);
    slash = strrchr(target, '/');
    base = slash ? slash + 1 : target;
    if (!slash || (size_t)(slash - target) >= sizeof(parent) || !*base)
        return 0;
    memcpy(parent, target, (size_t)(slash - target));
    parent[slash - target] = '\0';
    if ((pfd = hlx_mounts_open_in_root(root, parent, O_PATH | O_DIRECTORY)) < 0)
        return 0;
    if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
        return fail("Failed removing", target);
    return 0;
}

int hlx_hotplug_main(int mount, int argc, char **argv)
{
    const char *source = NULL, *target = NULL;
    long pid = 0, uid = -1, gid = -1;
    int ro = 0, remove = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--ro") == 0 && mount)
            ro = 1;
        else if (strcmp(argv[i], "--remove") == 0 && !mount)
            remove = 1;
        else if (i + 1 >= argc)
            usage();
        else if (strcmp(argv[i], "--pid") == 0)
            pid = number(argv[++i]);
        else if (strcmp(argv[i], "--source") == 0 && mount)
            source = argv[++i];
        else if (strcmp(argv[i], "--target") == 0)
            target = argv[++i];
        else if (strcmp(argv[i], "--uid") == 0 && mount)
            uid = number(argv[++i]);
        else if (strcmp(argv[i], "--gid") == 0 && mount)
            gid = number(argv[++i]);
        else
            usage();
    }
    if (pid <= 0 || !target || target[0] != '/' || (mount && (!source || source[0] != '/')) || (uid < 0) != (gid < 0))
        usage();
    return mount ? do_mount(pid, source, target, ro, uid, gid) : do_umount(pid, target, remove);
}
