#include "nsexec.h"
#include "caps.h"
#include "cgroups.h"
#include "devices_bpf.h"
#include "errpipe.h"
#include "idmap.h"
#include "mounts.h"
#include "netlink.h"
#include "seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYNC_GO 'G'

void hlx_reset_signals(void)
{
    sigset_t all;
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

void hlx_exec(char *const argv[], char *const env[])
{
    int has_path = 0;
    clearenv();
    for (int i = 0; env && env[i]; i++) {
        putenv(env[i]);
        if (strncmp(env[i], "PATH=", 5) == 0)
            has_path = 1;
    }
    if (!has_path)
        putenv((char *)HLX_DEFAULT_PATH);
    execvp(argv[0], argv);
}

/* GO, with the idmapped rootfs mount fd attached (SCM_RIGHTS) when there is one. */
static int send_go(int sock, int fd)
{
    char go = SYNC_GO;
    struct iovec iov = {.iov_base = &go, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u = {0};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        struct cmsghdr *c;
        msg.msg_control = u.buf;
        msg.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Waits for GO; returns the attached fd (or -1 when none) in *fd. -1 on EOF or a bad byte. */
static int recv_go(int sock, int *fd)
{
    char go = 0;
    struct iovec iov = {.iov_base = &go, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    *fd = -1;
    while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    for (struct cmsghdr *c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n == 1 && go == SYNC_GO ? 0 : -1;
}

static int loopback_up(struct hlx_err *er)
{
    struct ifreq ifr = {0};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;
    if (fd < 0)
        return hlx_fail(er, errno, "Failed bringing up lo: %s", strerror(errno));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0))
        rc = hlx_fail(er, errno, "Failed bringing up lo: %s", strerror(errno));
    close(fd);
    return rc;
}

/* The child side, in its new namespaces; reports through fd and exits on any failure. */
static void __attribute__((noreturn)) child_main(const struct hlx_start *st, int fd)
{
    const struct hlx_spec *spec = st->spec;
    struct hlx_err er = {0};
    int userns = spec->n_uidmap > 0, rootfd, idmapfd;

    hlx_reset_signals();
    /* Wait for GO: maps written, cgroups joined, nics moved in (and the idmapped rootfs
     * attached to it with rootfs-idmap). EOF: the parent gave up. */
    if (recv_go(fd, &idmapfd) < 0)
        _exit(1);
    if (spec->rootfs_idmap && idmapfd < 0) {
        hlx_fail(&er, EPROTO, "No idmapped rootfs mount came with GO");
        goto fail;
    }
    rootfd = hlx_mounts_prepare_root(spec, idmapfd, &er);
    if (idmapfd >= 0)
        close(idmapfd);
    if (rootfd < 0)
        goto fail;
    /* Become root of the container (maps are written by now). */
    if (userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        hlx_fail(&er, errno, "Failed switching to the container's root: %s", strerror(errno));
        goto fail;
    }
    if (setgroups(0, NULL) < 0) {
        hlx_fail(&er, errno, "Failed clearing supplementary groups: %s", strerror(errno));
        goto fail;
    }
    /* After the cgroup placement (our cgroups become the namespace root) and the id maps
     * (so /dev/mqueue belongs to the container's root). */
    if (unshare(CLONE_NEWCGROUP | CLONE_NEWIPC) < 0) {
        hlx_fail(&er, errno, "Failed creating cgroup and IPC namespaces: %s", strerror(errno));
        goto fail;
    }
    if (spec->hostname && sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
        hlx_fail(&er, errno, "Failed setting hostname: %s", strerror(errno));
        goto fail;
    }
    umask(0);
    if (hlx_mounts_setup(spec, rootfd, st->console_slave >= 0 ? st->console_path : NULL, &er) < 0)
        goto fail;
    close(rootfd);
    umask(022);
    if (!spec->host_netns && loopback_up(&er) < 0)
        goto fail;
    setsid();
    if (st->console_slave >= 0) {
        if (ioctl(st->console_slave, TIOCSCTTY, 0) < 0 || dup2(st->console_slave, 0) < 0 ||
            dup2(st->console_slave, 1) < 0 || dup2(st->console_slave, 2) < 0) {
            hlx_fail(&er, errno, "Failed attaching the console: %s", strerror(errno));
            goto fail;
        }
    }
    if (chdir(spec->cwd) < 0) {
        hlx_fail(&er, errno, "Failed chdir %s: %s", spec->cwd, strerror(errno));
        goto fail;
    }
    if (hlx_apply_rlimits(spec, &er) < 0 || hlx_caps_drop_bounding(spec->cap_drop, &er) < 0 ||
        hlx_seccomp_load(spec->seccomp, spec->n_seccomp, &er) < 0)
        goto fail;
    hlx_exec(spec->argv.v, spec->env.v);
    hlx_fail(&er, errno, "Failed exec %s: %s", spec->argv.v[0], strerror(errno));
fail:
    hlx_errpipe_report(fd, er.err, "%s", er.msg);
    _exit(1);
}

int hlx_container_start(const struct hlx_start *st, struct hlx_started *out, struct hlx_err *er)
{
    const struct hlx_spec *spec = st->spec;
    struct clone_args args = {0};
    int sv[2], pidfd = -1, idmapfd = -1, cgfd, into_cgroup, rc;
    pid_t pid;

    if ((cgfd = hlx_cgroups_prepare(spec, er)) == -2)
        return -1;
    /* The device allow-list is on the group before init is in it. */
    if (spec->n_devices && cgfd < 0)
        return hlx_fail(er, EINVAL, "device-allow needs a cgroup2 cgroup dir");
    if (spec->n_devices && hlx_devices_attach(cgfd, spec->devices, spec->n_devices, er) < 0) {
        close(cgfd);
        return -1;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        rc = hlx_fail(er, errno, "Failed creating the sync socket: %s", strerror(errno));
        if (cgfd >= 0)
            close(cgfd);
        return rc;
    }
    args.flags = CLONE_PIDFD | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS;
    if (spec->n_uidmap)
        args.flags |= CLONE_NEWUSER;
    if (!spec->host_netns)
        args.flags |= CLONE_NEWNET;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    if (cgfd >= 0) {
        /* Born in its cgroup2 group: no moment in ours, and cgroup.kill/freeze cover it at once. */
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgfd;
    }
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0 && cgfd >= 0 && (errno == E2BIG || errno == EINVAL || errno == EOPNOTSUPP)) {
        /* Kernel without CLONE_INTO_CGROUP (< 5.7): join through cgroup.procs below. */
        close(cgfd);
        cgfd = -1;
        args.flags &= ~CLONE_INTO_CGROUP;
        args.cgroup = 0;
        pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    }
    if (pid < 0) {
        rc = hlx_fail(er, errno, "Failed clone3: %s", strerror(errno));
        if (cgfd >= 0)
            close(cgfd);
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if (cgfd >= 0)
        close(cgfd); /* in the child too, before anything else runs there */
    into_cgroup = (args.flags & CLONE_INTO_CGROUP) != 0;
    if (pid == 0) {
        close(sv[0]);
        child_main(st, sv[1]);
    }
    close(sv[1]);

    if ((spec->n_uidmap && hlx_idmap_write(pid, spec, er) < 0) || hlx_cgroups_join(spec, pid, into_cgroup, er) < 0)
        goto kill;
    /* The daemon's veth ends, into the child's netns (it exists since clone3), renamed and up. */
    if (hlx_nics_create(spec, pid, er) < 0)
        goto kill;
    /* The unshifted rootfs, idmapped to the child's user namespace (its maps are written now);
     * made here with host credentials, attached by the child in its own mount namespace. */
    if (spec->rootfs_idmap && (idmapfd = hlx_idmap_mount_for(pid, spec->rootfs, er)) < 0)
        goto kill;
    if (send_go(sv[0], idmapfd) < 0) {
        hlx_fail(er, errno, "Failed sending GO: %s", strerror(errno));
        goto kill;
    }
    if (idmapfd >= 0) {
        close(idmapfd);
        idmapfd = -1;
    }
    rc = hlx_errpipe_read(sv[0], &er->err, er->msg, sizeof(er->msg));
    if (rc == 0) {
        close(sv[0]);
        out->pid = pid;
        out->pidfd = pidfd;
        return 0;
    }
    if (rc < 0)
        hlx_fail(er, errno, "Failed reading the start result: %s", strerror(errno));
kill:
    rc = er->err;
    if (idmapfd >= 0)
        close(idmapfd);
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(pidfd);
    close(sv[0]);
    errno = rc;
    return -1;
}
