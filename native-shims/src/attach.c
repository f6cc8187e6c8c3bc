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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

static void __attribute__((noreturn)) child(const struct hlx_attach *o, int fd, int ttyfd)
{
    struct hlx_err er = {0};
    int code = HLX_ATTACH_SETUP_FAILED;
    hlx_reset_signals();
    /* A new session whose controlling terminal is the pty: job control and ^C work inside. */
    if (ttyfd >= 0 && (setsid() < 0 || dup2(ttyfd, 0) < 0 || dup2(ttyfd, 1) < 0 || dup2(ttyfd, 2) < 0 ||
                       ioctl(0, TIOCSCTTY, 0) < 0)) {
        hlx_fail(&er, errno, "Failed setting up the terminal %s: %s", o->tty, strerror(errno));
        goto fail;
    }
    if (hlx_caps_drop_bounding(o->cap_drop, &er) < 0 || hlx_seccomp_load(o->seccomp, o->n_seccomp, &er) < 0)
        goto fail;
    if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 || setresuid(o->uid, o->uid, o->uid) < 0) {
        hlx_fail(&er, errno, "Failed switching to uid %u gid %u: %s", (unsigned)o->uid, (unsigned)o->gid,
                 strerror(errno));
        goto fail;
    }
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

int hlx_attach(const struct hlx_attach *o)
{
    struct hlx_err er = {0};
    int pidfd, fds[2], status, rc, ttyfd = -1;
    struct sigaction sa = {.sa_handler = forward};
    static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};

    pidfd = (int)syscall(SYS_pidfd_open, o->pid, 0);
    if (pidfd < 0) {
        hlx_fail(&er, errno, "Failed opening pidfd of %d: %s", (int)o->pid, strerror(errno));
        report(o, &er);
        return HLX_ATTACH_SETUP_FAILED;
    }
    /* The pty slave is a host path: open it before entering the container's mount namespace. */
    if (o->tty && (ttyfd = open(o->tty, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        hlx_fail(&er, errno, "Failed opening the terminal %s: %s", o->tty, strerror(errno));
        goto fail;
    }
    /* cgroups first: their host paths are only visible from here. */
    if (hlx_cgroups_attach_self(o->pid, &er) < 0)
        goto fail;
    if (hlx_attach_enter(pidfd, o->pid, HLX_ATTACH_ALL_NS, &er) < 0)
        goto fail;
    close(pidfd);
    if (pipe2(fds, O_CLOEXEC) < 0 || (child_pid = fork()) < 0) {
        hlx_fail(&er, errno, "Failed forking into the container: %s", strerror(errno));
        goto fail;
    }
    if (child_pid == 0) {
        close(fds[0]);
        child(o, fds[1], ttyfd);
    }
    close(fds[1]);
    if (ttyfd >= 0)
        close(ttyfd); /* only the command holds the slave: its exit is EOF on the master */
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
    report(o, &er);
    return HLX_ATTACH_SETUP_FAILED;
}
