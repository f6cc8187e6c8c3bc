/* hyperlxd-nsexec attach: enter a running container through a pidfd and run a command in it. */
#include "attach.h"

#include "caps.h"
#include "cgroups.h"
#include "errpipe.h"
#include "nsexec.h"
#include "seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* Namespaces of pid that differ from ours. Re-entering our own user namespace is EINVAL. */
static int ns_flags(pid_t pid)
{
    static const struct {
        const char *name;
        int flag;
    } ns[] = {
        {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID},       {"uts", CLONE_NEWUTS},
        {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
    };
    int flags = 0;
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        char path[64];
        struct stat a, b;
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns[i].name);
        if (stat(path, &a) < 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns[i].name);
        if (stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
            flags |= ns[i].flag;
    }
    return flags;
}

int hlx_attach_enter(int pidfd, pid_t pid, int namespaces, struct hlx_err *er)
{
    int flags = ns_flags(pid) & namespaces;
    if (flags && setns(pidfd, flags) < 0)
        return hlx_fail(er, errno, "Failed entering the namespaces of %d: %s", (int)pid, strerror(errno));
    return 0;
}

static int report(const struct hlx_attach *o, const struct hlx_err *er)
{
    if (o->errfd >= 0)
        hlx_errpipe_report(o->errfd, er->err, "%s", er->msg);
    else
        fprintf(stderr, "hyperlxd-nsexec: errno=%d: %s\n", er->err, er->msg);
    return er->err == ENOENT ? 127 : 126;
}

/* The daemon's socket for the pty master; a host path, so connected before entering the container. */
static int tty_connect(const char *path, struct hlx_err *er)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;
    if (strlen(path) >= sizeof(sa.sun_path))
        return hlx_fail(er, ENAMETOOLONG, "Failed connecting to the terminal socket %s: %s", path,
                        strerror(ENAMETOOLONG));
    strcpy(sa.sun_path, path);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        if (s >= 0)
            close(s);
        return hlx_fail(er, e, "Failed connecting to the terminal socket %s: %s", path, strerror(e));
    }
    return s;
}

static int send_fd(int sock, int fd)
{
    char byte = 'T';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u = {0};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    ssize_t n;
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

/*
 * The command's terminal, as LXD makes it: a new pty of the container's own devpts instance (so
 * `tty` says /dev/pts/N inside and the slave is there), opened by the command's user after the
 * switch (devpts gives the slave the opener's fsuid), chowned to its uid/gid, mode 0620. The master
 * goes to the daemon over sock; the slave becomes stdio and the controlling terminal of a new
 * session, so job control and ^C work inside.
 */
static int tty_setup(const struct hlx_attach *o, int sock, struct hlx_err *er)
{
    struct statfs sfs;
    int master, peer = -1, unlock = 0, rc = -1;

    /* /dev/pts/ptmx, not /dev/ptmx: the node of the devpts mounted there, whatever /dev holds. */
    master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (master < 0)
        return hlx_fail(er, errno, "Failed opening the container's /dev/pts/ptmx: %s", strerror(errno));
    if (fstatfs(master, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC) {
        hlx_fail(er, ENODEV, "Failed allocating a pty: the container has no devpts on /dev/pts");
        goto out;
    }
    if (fcntl(master, F_SETFL, 0) < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
        (peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        hlx_fail(er, errno, "Failed allocating a pty: %s", strerror(errno));
        goto out;
    }
    if (fchown(peer, o->uid, o->gid) < 0 || fchmod(peer, 0620) < 0) {
        hlx_fail(er, errno, "Failed giving the pty to uid %u gid %u: %s", (unsigned)o->uid, (unsigned)o->gid,
                 strerror(errno));
        goto out;
    }
    if (o->tty_cols && o->tty_rows) {
        struct winsize ws = {.ws_row = o->tty_rows, .ws_col = o->tty_cols};
        ioctl(master, TIOCSWINSZ, &ws);
    }
    if (setsid() < 0 || dup2(peer, 0) < 0 || dup2(peer, 1) < 0 || dup2(peer, 2) < 0 ||
        ioctl(0, TIOCSCTTY, 0) < 0) {
        hlx_fail(er, errno, "Failed setting up the terminal: %s", strerror(errno));
        goto out;
    }
    if (send_fd(sock, master) < 0) {
        hlx_fail(er, errno, "Failed passing the pty to the daemon: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    /* Only the daemon keeps the master: when the command and its children are gone it reads EOF (EIO). */
    if (peer >= 0)
        close(peer);
    close(master);
    close(sock);
    return rc;
}

/*
 * The command's process. It alone joins the memory cgroup (memfds), so that the helper, which only
 * waits and relays, is never charged there nor picked by the container's OOM killer. A prepared
 * helper's child joins and then waits for the command (deferred), so an exec still finds the
 * cgroup join done; it dies with the helper (PDEATHSIG) so that none is left waiting alone.
 */
static void __attribute__((noreturn)) child(struct hlx_attach *o, const struct sock_fprog *filter, int fd,
                                            int ttysock, int *memfds, int nmem)
{
    struct hlx_err er = {0};
    int code = HLX_ATTACH_SETUP_FAILED;
    hlx_reset_signals();
    /* (getppid() is 0 here: the helper is outside this PID namespace. A helper killed before this
     * line leaves a child that ends at stdin's EOF, when the daemon lets go of the helper.) */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        hlx_fail(&er, errno, "Failed PR_SET_PDEATHSIG: %s", strerror(errno));
        goto fail;
    }
    if (hlx_cgroups_join_fds(memfds, nmem, &er) < 0 || (o->deferred && o->deferred(o, &er) < 0))
        goto fail;
    prctl(PR_SET_PDEATHSIG, 0); /* the command itself outlives a helper that is killed, as before */
    if (hlx_caps_drop_bounding(o->cap_drop, &er) < 0 || hlx_seccomp_install(filter, &er) < 0)
        goto fail;
    if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 || setresuid(o->uid, o->uid, o->uid) < 0) {
        hlx_fail(&er, errno, "Failed switching to uid %u gid %u: %s", (unsigned)o->uid, (unsigned)o->gid,
                 strerror(errno));
        goto fail;
    }
    if (ttysock >= 0 && tty_setup(o, ttysock, &er) < 0)
        goto fail;
    if (chdir(o->cwd ? o->cwd : "/") < 0) {
        hlx_fail(&er, errno, "Failed chdir %s: %s", o->cwd, strerror(errno));
        goto fail;
    }
    hlx_exec(o->argv, o->env);
    hlx_fail(&er, errno, "Failed exec %s: %s", o->argv[0], strerror(errno));
    code = errno == ENOENT ? 127 : 126;
fail:
    hlx_errpipe_report(fd, er.err, "%s", er.msg);
    _exit(code);
}

int hlx_attach(struct hlx_attach *o)
{
    struct hlx_err er = {0};
    struct sock_fprog filter = {0};
    int pidfd, fds[2], status, rc, ttysock = -1, memfds[4], nmem = 0;
    struct sigaction sa = {.sa_handler = forward};
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

    /* Compiled here, installed by the child: a prepared helper has it ready before its command comes. */
    if (hlx_seccomp_compile(o->seccomp, o->n_seccomp, &filter, &er) < 0) {
        report(o, &er);
        return HLX_ATTACH_SETUP_FAILED;
    }
    pidfd = (int)syscall(SYS_pidfd_open, o->pid, 0);
    if (pidfd < 0) {
        hlx_fail(&er, errno, "Failed opening pidfd of %d: %s", (int)o->pid, strerror(errno));
        report(o, &er);
        return HLX_ATTACH_SETUP_FAILED;
    }
    if (o->tty_socket && (ttysock = tty_connect(o->tty_socket, &er)) < 0)
        goto fail;
    /* cgroups first: their host paths are only visible from here (the memory one: opened only). */
    if ((nmem = hlx_cgroups_attach_self(o->pid, memfds, 4, &er)) < 0) {
        nmem = 0;
        goto fail;
    }
    if (hlx_attach_enter(pidfd, o->pid, HLX_ATTACH_ALL_NS, &er) < 0)
        goto fail;
    close(pidfd);
    pidfd = -1;
    /* Prepared ahead (deferred): the child joins and then waits for its command, so the cgroup
     * joins (an RCU grace period on cgroup v1) are already paid when it comes. */
    if (pipe2(fds, O_CLOEXEC) < 0 || (child_pid = fork()) < 0) {
        hlx_fail(&er, errno, "Failed forking into the container: %s", strerror(errno));
        goto fail;
    }
    if (child_pid == 0) {
        close(fds[0]);
        child(o, &filter, fds[1], ttysock, memfds, nmem);
    }
    close(fds[1]);
    while (nmem > 0)
        close(memfds[--nmem]);
    /* stdin is the command's alone: when it is gone, a writer sees EPIPE rather than a helper that never reads. */
    close(0);
    hlx_seccomp_free(&filter);
    if (ttysock >= 0)
        close(ttysock); /* only the child holds it: its exec or death is EOF for the daemon */
    for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
        sigaction(fwd[i], &sa, NULL);
    rc = hlx_errpipe_read(fds[0], &er.err, er.msg, sizeof(er.msg));
    close(fds[0]);
    while (waitpid(child_pid, &status, 0) < 0)
        if (errno != EINTR)
            return HLX_ATTACH_SETUP_FAILED;
    if (rc == 1)
        report(o, &er);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
fail:
    if (pidfd >= 0)
        close(pidfd);
    while (nmem > 0)
        close(memfds[--nmem]);
    hlx_seccomp_free(&filter);
    report(o, &er);
    return HLX_ATTACH_SETUP_FAILED;
}
