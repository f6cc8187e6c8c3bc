/* hyperlxd-nsexec: `run` starts a container in the foreground (debugging; the monitor does the
 * same in-process), `attach` runs a command inside a running container. See README.md. */
#include "attach.h"
#include "attach_file.h"
#include "hotplug.h"
#include "idmap.h"
#include "nsexec.h"
#include "proxy.h"
#include "spec.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(void)
{
    fputs("usage: hyperlxd-nsexec run --spec FILE|-\n"
          "       hyperlxd-nsexec attach --pid PID [--uid U] [--gid G] [--cwd DIR] [--env K=V]...\n"
          "                              [--spec FILE] [--no-seccomp] [--errfd FD]\n"
          "                              [--tty-socket PATH [--tty-size COLSxROWS]] -- CMD [ARGS...]\n"
          "       hyperlxd-nsexec attach --pid PID [--spec FILE] --deferred   (the rest on stdin, see README)\n"
          "       hyperlxd-nsexec attach --pid PID --file-broker FD\n"
          "       hyperlxd-nsexec file-broker --root DIR --fd FD\n"
          "       hyperlxd-nsexec idmap-probe DIR\n"
          "       hyperlxd-nsexec mount --pid PID --source HOSTPATH --target PATH [--ro] [--uid U --gid G]\n"
          "       hyperlxd-nsexec umount --pid PID --target PATH [--remove]\n"
          "       hyperlxd-nsexec proxy --netns PATH --listen PROTO:ADDR:PORTS --connect PROTO:ADDR:PORTS [--uid U] [--gid G]\n",
          stderr);
    exit(2);
}

/* A decimal id no larger than max, or -1. */
static long id_or_fail(const char *s, unsigned long max)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    return *s == '\0' || *end || *s == '-' || v > max ? -1 : (long)v;
}

static int parse_id(const char *s, unsigned long max)
{
    long v = id_or_fail(s, max);
    if (v < 0)
        usage();
    return (int)v;
}

/* The command's own options, on the command line and in a prepared attach's stdin frame alike:
 * 1 when key is one of them (applied), 0 when it is not, -1 when its value is bad. */
static int command_option(struct hlx_attach *o, struct hlx_strv *env, const char *key, const char *val)
{
    long v;
    if (strcmp(key, "--cwd") == 0) {
        o->cwd = val;
        return 1;
    }
    if (strcmp(key, "--env") == 0)
        return strchr(val, '=') && hlx_strv_push(env, val) == 0 ? 1 : -1;
    if (strcmp(key, "--uid") != 0 && strcmp(key, "--gid") != 0)
        return 0;
    if ((v = id_or_fail(val, 0x7fffffff)) < 0)
        return -1;
    if (key[2] == 'u')
        o->uid = (uid_t)v;
    else
        o->gid = (gid_t)v;
    return 1;
}

/* "COLSxROWS", e.g. 80x24. */
static void parse_size(const char *s, unsigned short *cols, unsigned short *rows)
{
    char *end;
    unsigned long c = strtoul(s, &end, 10), r;
    if (end == s || *end != 'x' || c == 0 || c > 0xffff)
        usage();
    s = end + 1;
    r = strtoul(s, &end, 10);
    if (end == s || *end || r == 0 || r > 0xffff)
        usage();
    *cols = (unsigned short)c;
    *rows = (unsigned short)r;
}

static int cmd_run(int argc, char **argv)
{
    struct hlx_spec spec;
    struct hlx_err er = {0};
    struct hlx_started started;
    struct hlx_start st = {.spec = &spec, .console_slave = -1};
    int status;

    if (argc != 2 || strcmp(argv[0], "--spec") != 0)
        usage();
    if (hlx_spec_load(argv[1], &spec, &er) < 0 || hlx_container_start(&st, &started, &er) < 0) {
        fprintf(stderr, "hyperlxd-nsexec: errno=%d: %s\n", er.err, er.msg);
        return 1;
    }
    hlx_spec_free(&spec);
    while (waitpid(started.pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int read_full(int fd, void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

/* attach --deferred: once inside, the command arrives on stdin as a 4-byte little-endian length and
 * that many bytes of NUL-terminated tokens, the same as the command line would have carried:
 * [--uid U] [--gid G] [--cwd DIR] [--env K=V]... -- CMD [ARGS...]. What follows on stdin is the
 * command's own input. */
static int read_deferred(struct hlx_attach *o, struct hlx_err *er)
{
    struct hlx_spec *spec = o->deferred_ctx;
    unsigned char len[4];
    uint32_t n;
    char *buf, **tok;
    int ntok = 0, i;

    if (read_full(0, len, sizeof(len)) < 0)
        return hlx_fail(er, EPIPE, "No command arrived for the prepared exec");
    n = (uint32_t)len[0] | (uint32_t)len[1] << 8 | (uint32_t)len[2] << 16 | (uint32_t)len[3] << 24;
    if (n == 0 || n > (1u << 20) || !(buf = malloc(n + 1)))
        return hlx_fail(er, EINVAL, "Bad prepared exec request of %u bytes", (unsigned)n);
    if (read_full(0, buf, n) < 0 || buf[n - 1] != '\0') {
        free(buf);
        return hlx_fail(er, EINVAL, "Truncated prepared exec request");
    }
    for (uint32_t k = 0; k < n; k++)
        ntok += buf[k] == '\0';
    if (!(tok = calloc((size_t)ntok + 1, sizeof(*tok)))) {
        free(buf);
        return hlx_fail(er, ENOMEM, "Out of memory");
    }
    ntok = 0;
    for (char *p = buf; p < buf + n; p += strlen(p) + 1)
        tok[ntok++] = p;
    /* buf and tok live until exec: the child uses them. */
    for (i = 0; i < ntok && strcmp(tok[i], "--") != 0; i += 2) {
        int rc;
        if (i + 1 >= ntok)
            return hlx_fail(er, EINVAL, "Prepared exec: option %s has no value", tok[i]);
        if ((rc = command_option(o, &spec->env, tok[i], tok[i + 1])) < 0)
            return hlx_fail(er, EINVAL, "Prepared exec: bad value for %s", tok[i]);
        if (rc == 0)
            return hlx_fail(er, EINVAL, "Prepared exec: option %s is not allowed here", tok[i]);
    }
    if (i + 1 >= ntok)
        return hlx_fail(er, EINVAL, "Prepared exec: no command");
    o->argv = tok + i + 1;
    o->env = spec->env.v;
    return 0;
}

static int cmd_attach(int argc, char **argv)
{
    struct hlx_attach o = {.errfd = -1};
    struct hlx_spec spec = {0};
    struct hlx_err er = {0};
    const char *spec_path = NULL;
    int no_seccomp = 0, file_broker = -1, deferred = 0, i, rc;

    for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--no-seccomp") == 0) {
            no_seccomp = 1;
            continue;
        }
        if (strcmp(a, "--deferred") == 0) {
            deferred = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if ((rc = command_option(&o, &spec.env, a, v)) < 0)
            usage();
        else if (rc > 0)
            continue;
        else if (strcmp(a, "--pid") == 0)
            o.pid = parse_id(v, 1 << 30);
        else if (strcmp(a, "--errfd") == 0)
            o.errfd = parse_id(v, 1 << 20);
        else if (strcmp(a, "--tty-socket") == 0)
            o.tty_socket = v;
        else if (strcmp(a, "--tty-size") == 0)
            parse_size(v, &o.tty_cols, &o.tty_rows);
        else if (strcmp(a, "--spec") == 0)
            spec_path = v;
        else if (strcmp(a, "--file-broker") == 0)
            file_broker = parse_id(v, 1 << 20);
        else
            usage();
    }
    if (file_broker >= 0 && i == argc && o.pid > 0) {
        hlx_strv_free(&spec.env);
        return hlx_attach_file(o.pid, file_broker);
    }
    if (deferred) {
        /* Only the container and its policy now; the command and the tty-less stdio come later. */
        if (i != argc || o.pid <= 0 || o.tty_socket || spec.env.n)
            usage();
        o.deferred = read_deferred;
        o.deferred_ctx = &spec;
    } else if (i + 1 >= argc || o.pid <= 0)
        usage();
    else
        o.argv = argv + i + 1;
    if (spec_path) {
        /* The container's own policy: its cap-drop and seccomp lines. */
        struct hlx_strv env = spec.env;
        if (hlx_spec_load(spec_path, &spec, &er) < 0) {
            fprintf(stderr, "hyperlxd-nsexec: errno=%d: %s\n", er.err, er.msg);
            hlx_strv_free(&env);
            return HLX_ATTACH_SETUP_FAILED;
        }
        hlx_strv_free(&spec.env);
        spec.env = env;
    } else {
        spec.cap_drop = hlx_default_cap_drop();
        hlx_spec_seccomp_defaults(&spec);
    }
    o.env = spec.env.v;
    o.cap_drop = spec.cap_drop;
    if (!no_seccomp) {
        o.seccomp = spec.seccomp;
        o.n_seccomp = spec.n_seccomp;
    }
    rc = hlx_attach(&o);
    hlx_spec_free(&spec);
    return rc;
}

/* The file broker on a directory seen from the host (a stopped container's rootfs). */
static int cmd_file_broker(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[0], "--root") != 0 || argv[1][0] != '/' || strcmp(argv[2], "--fd") != 0)
        usage();
    return hlx_file_broker_root(argv[1], parse_id(argv[3], 1 << 20));
}

/* Exit 0 when an idmapped mount of DIR can be made (the daemon then leaves rootfs unshifted),
 * 1 with the reason on stderr otherwise. */
static int cmd_idmap_probe(int argc, char **argv)
{
    struct hlx_err er = {0};
    if (argc != 1 || argv[0][0] != '/')
        usage();
    if (hlx_idmap_probe(argv[0], &er) < 0) {
        fprintf(stderr, "hyperlxd-nsexec: errno=%d: %s\n", er.err, er.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "attach") == 0)
        return cmd_attach(argc - 2, argv + 2);
    if (strcmp(argv[1], "file-broker") == 0)
        return cmd_file_broker(argc - 2, argv + 2);
    if (strcmp(argv[1], "idmap-probe") == 0)
        return cmd_idmap_probe(argc - 2, argv + 2);
    if (strcmp(argv[1], "mount") == 0 || strcmp(argv[1], "umount") == 0)
        return hlx_hotplug_main(argv[1][0] == 'm', argc - 2, argv + 2);
    if (strcmp(argv[1], "proxy") == 0)
        return hlx_proxy_main(argc - 2, argv + 2);
    usage();
}
