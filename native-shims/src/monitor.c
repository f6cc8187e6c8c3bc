/* hyperlxd-monitor: one per running container. `start` validates the spec, daemonizes (double fork
 * + setsid: the daemon's death or restart does not touch it), becomes subreaper, allocates the
 * console pty, starts the container and serves the unix socket until the container stops.
 * `request` is a tiny client of that socket (tests, debugging). See README.md. */
#include "monitor.h"

#include "errpipe.h"
#include "nsexec.h"
#include "spec.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define RING_SIZE (128 * 1024)

static void usage(void)
{
    fputs("usage: hyperlxd-monitor start --name NAME --spec FILE|- --socket PATH [--log PATH] [--state PATH]\n"
          "       hyperlxd-monitor request --socket PATH REQUEST...\n",
          stderr);
    exit(2);
}

static int die(const struct hlx_err *er)
{
    fprintf(stderr, "hyperlxd-monitor: errno=%d: %s\n", er->err, er->msg);
    return 1;
}

static int make_sockaddr(const char *path, struct sockaddr_un *sa, struct hlx_err *er)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return hlx_fail(er, ENAMETOOLONG, "socket path too long: %s", path);
    strcpy(sa->sun_path, path);
    return 0;
}

static int listen_socket(const char *path, struct hlx_err *er)
{
    struct sockaddr_un sa;
    char dir[sizeof(sa.sun_path)];
    int fd;

    if (make_sockaddr(path, &sa, er) < 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s", path);
    if (hlx_mkdir_p(dirname(dir), 0700) < 0)
        return hlx_fail(er, errno, "Failed creating the directory of %s: %s", path, strerror(errno));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return hlx_fail(er, errno, "Failed creating socket: %s", strerror(errno));
    /* A live monitor answers: refuse to take its place. A stale socket file is replaced. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(fd);
        return hlx_fail(er, EADDRINUSE, "A monitor is already listening on %s", path);
    }
    close(fd);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return hlx_fail(er, e, "Failed listening on %s: %s", path, strerror(e));
    }
    return fd;
}

static int open_console(struct mon *m, const struct hlx_spec *spec, char *path, size_t size,
                        struct hlx_err *er)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    m->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m->master < 0 || grantpt(m->master) < 0 || unlockpt(m->master) < 0 ||
        ptsname_r(m->master, path, size) != 0)
        return hlx_fail(er, errno, "Failed allocating the console pty: %s", strerror(errno));
    /* The monitor keeps the slave open too: the master never sees EIO/hangup between sessions. */
    m->slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m->slave < 0)
        return hlx_fail(er, errno, "Failed opening %s: %s", path, strerror(errno));
    ioctl(m->slave, TIOCSWINSZ, &ws);
    if (spec->n_uidmap) {
        long uid = hlx_idmap_outside(spec->uidmap, spec->n_uidmap, 0);
        long gid = hlx_idmap_outside(spec->gidmap, spec->n_gidmap, 5);
        if (gid < 0)
            gid = hlx_idmap_outside(spec->gidmap, spec->n_gidmap, 0);
        if (fchown(m->slave, (uid_t)uid, (gid_t)gid) < 0)
            return hlx_fail(er, errno, "Failed handing the console to the container: %s", strerror(errno));
    }
    fcntl(m->master, F_SETFL, fcntl(m->master, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* The daemonized monitor. Reports (0, status line) or (errno, message) on res, then serves. */
static int monitor_main(struct mon *m, struct hlx_spec *spec, int res)
{
    struct hlx_err er = {0};
    struct hlx_started started;
    char console[64], line[512];
    sigset_t mask;
    int devnull;

    chdir("/");
    umask(077);
    if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        if (devnull > 2)
            close(devnull);
    }
    prctl(PR_SET_NAME, "hlx-monitor");
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    m->monitor_pid = getpid();
    m->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (m->sig_fd < 0) {
        hlx_fail(&er, errno, "Failed creating signalfd: %s", strerror(errno));
        goto fail;
    }
    if ((m->listen_fd = listen_socket(m->sock_path, &er)) < 0)
        goto fail;
    if (open_console(m, spec, console, sizeof(console), &er) < 0 ||
        hlx_ring_init(&m->ring, RING_SIZE) < 0)
        goto fail_sock;
    struct hlx_start st = {.spec = spec, .console_slave = m->slave,
                           .console_path = console};
    if (hlx_container_start(&st, &started, &er) < 0)
        goto fail_sock;
    m->init_pid = started.pid;
    m->pidfd = started.pidfd;
    hlx_spec_free(spec);
    if (mon_write_state(m) < 0)
        hlx_fail(&er, errno, "Failed writing state file %s: %s", m->state_path, strerror(errno));
    mon_status_line(m, line, sizeof(line));
    hlx_errpipe_report(res, 0, "%s", line);
    close(res);

    mon_serve(m);

    if (m->log_path) {
        int fd = open(m->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            hlx_ring_dump(&m->ring, fd);
            close(fd);
        }
    }
    unlink(m->sock_path);
    return 0;
fail_sock:
    unlink(m->sock_path);
fail:
    hlx_errpipe_report(res, er.err ? er.err : EIO, "%s", er.msg);
    return 1;
}

static int cmd_start(int argc, char **argv)
{
    static struct mon m; /* static: zeroed, and lives as long as the process */
    struct hlx_spec spec;
    struct hlx_err er = {0};
    const char *spec_path = NULL;
    char state[4200], msg[HLX_ERRPIPE_MAX];
    int res[2], err, rc;
    pid_t pid;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (strcmp(a, "--name") == 0)
            m.name = v;
        else if (strcmp(a, "--spec") == 0)
            spec_path = v;
        else if (strcmp(a, "--socket") == 0)
            m.sock_path = v;
        else if (strcmp(a, "--log") == 0)
            m.log_path = v;
        else if (strcmp(a, "--state") == 0)
            m.state_path = v;
        else
            usage();
        i++;
    }
    if (!m.name || !spec_path || !m.sock_path)
        usage();
    if (!m.state_path) {
        size_t l = strlen(m.sock_path);
        if (l > 5 && strcmp(m.sock_path + l - 5, ".sock") == 0)
            snprintf(state, sizeof(state), "%.*s.state", (int)(l - 5), m.sock_path);
        else
            snprintf(state, sizeof(state), "%s.state", m.sock_path);
        m.state_path = state;
    }
    if (hlx_spec_load(spec_path, &spec, &er) < 0)
        return die(&er);
    if (pipe2(res, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        hlx_fail(&er, errno, "Failed forking the monitor: %s", strerror(errno));
        return die(&er);
    }
    if (pid == 0) {
        close(res[0]);
        setsid();
        pid = fork();
        if (pid != 0)
            _exit(pid < 0 ? 1 : 0);
        _exit(monitor_main(&m, &spec, res[1]));
    }
    close(res[1]);
    hlx_spec_free(&spec);
    waitpid(pid, NULL, 0);
    rc = hlx_errpipe_read(res[0], &err, msg, sizeof(msg));
    if (rc == 1 && err == 0) {
        printf("%s\n", msg);
        return 0;
    }
    if (rc == 1)
        hlx_fail(&er, err, "%s", msg);
    else
        hlx_fail(&er, EIO, "The monitor exited before reporting the start");
    return die(&er);
}

/* Sends one request, half-closes, copies the whole answer to stdout. Exit 0 on "ok". */
static int cmd_request(int argc, char **argv)
{
    struct sockaddr_un sa;
    struct hlx_err er = {0};
    char req[MON_LINE_MAX] = "", buf[4096];
    int fd, first = 1, ok = 0;
    ssize_t n;

    if (argc < 3 || strcmp(argv[0], "--socket") != 0)
        usage();
    for (int i = 2; i < argc; i++) {
        if (i > 2)
            strncat(req, " ", sizeof(req) - strlen(req) - 1);
        strncat(req, argv[i], sizeof(req) - strlen(req) - 1);
    }
    strncat(req, "\n", sizeof(req) - strlen(req) - 1);
    if (make_sockaddr(argv[1], &sa, &er) < 0)
        return die(&er);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        hlx_fail(&er, errno, "Failed connecting to %s: %s", argv[1], strerror(errno));
        return die(&er);
    }
    hlx_write_all(fd, req, strlen(req));
    shutdown(fd, SHUT_WR);
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (first)
            ok = n >= 2 && memcmp(buf, "ok", 2) == 0;
        first = 0;
        hlx_write_all(1, buf, (size_t)n);
    }
    close(fd);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "start") == 0)
        return cmd_start(argc - 2, argv + 2);
    if (strcmp(argv[1], "request") == 0)
        return cmd_request(argc - 2, argv + 2);
    usage();
}
