#include "seccomp_policy.h"

#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* libseccomp 2.5 exports a filter only to an fd: a memfd, read back. */
static int export_prog(scmp_filter_ctx ctx, struct sock_fprog *prog, struct hlx_err *er)
{
    struct stat st;
    int fd, rc;
    if ((fd = memfd_create("hlx-seccomp", MFD_CLOEXEC)) < 0)
        return hlx_fail(er, errno, "Failed compiling seccomp: memfd_create: %s", strerror(errno));
    if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
        close(fd);
        return hlx_fail(er, -rc, "Failed compiling seccomp: %s", strerror(-rc));
    }
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
        st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS || !(prog->filter = malloc((size_t)st.st_size))) {
        close(fd);
        return hlx_fail(er, EINVAL, "Failed compiling seccomp: bad filter size");
    }
    if (pread(fd, prog->filter, (size_t)st.st_size, 0) != st.st_size) {
        free(prog->filter);
        prog->filter = NULL;
        close(fd);
        return hlx_fail(er, EIO, "Failed compiling seccomp: short read");
    }
    close(fd);
    prog->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    return 0;
}

int hlx_seccomp_install(const struct sock_fprog *prog, struct hlx_err *er)
{
    if (prog->len == 0)
        return 0;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
        return hlx_fail(er, errno, "Failed loading seccomp: %s", strerror(errno));
    return 0;
}

void hlx_seccomp_free(struct sock_fprog *prog)
{
    free(prog->filter);
    prog->filter = NULL;
    prog->len = 0;
}

int hlx_seccomp_load(const struct hlx_seccomp_rule *rules, int n, struct hlx_err *er)
{
    struct sock_fprog prog = {0};
    int rc;
    if (hlx_seccomp_compile(rules, n, &prog, er) < 0)
        return -1;
    rc = hlx_seccomp_install(&prog, er);
    hlx_seccomp_free(&prog);
    return rc;
}

int hlx_seccomp_compile(const struct hlx_seccomp_rule *rules, int n, struct sock_fprog *prog, struct hlx_err *er)
{
    scmp_filter_ctx ctx;
    int rc = 0;

    prog->len = 0;
    prog->filter = NULL;
    if (n == 0)
        return 0;
    if (!(ctx = seccomp_init(SCMP_ACT_ALLOW)))
        return hlx_fail(er, ENOMEM, "Failed initializing seccomp");
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    /* Cover the 32-bit ABIs too, or "int 0x80" would walk around the list. */
#if defined(__x86_64__)
    seccomp_arch_add(ctx, SCMP_ARCH_X86);
    seccomp_arch_add(ctx, SCMP_ARCH_X32);
#endif
    for (int i = 0; i < n; i++) {
        const char *name = rules[i].syscall;
        int force = 0, nr;
        char buf[64];
        const char *colon = strchr(name, ':');
        if (colon) {
            size_t len = (size_t)(colon - name);
            if (strcmp(colon + 1, "force") != 0 || len >= sizeof(buf)) {
                rc = hlx_fail(er, EINVAL, "Failed loading seccomp: bad rule \"%s\"", name);
                goto out;
            }
            memcpy(buf, name, len);
            buf[len] = '\0';
            name = buf;
            force = 1;
        }
        nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
            rc = hlx_fail(er, EINVAL, "Failed loading seccomp: unknown syscall \"%s\"", name);
            goto out;
        }
        if (force)
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rules[i].err), nr, 1,
                                  SCMP_A1(SCMP_CMP_MASKED_EQ, MNT_FORCE, MNT_FORCE));
        else
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(rules[i].err), nr, 0);
        /* -EEXIST: the same syscall listed twice; the first rule wins. */
        if (rc < 0 && rc != -EEXIST) {
            hlx_fail(er, -rc, "Failed adding seccomp rule for %s: %s", name, strerror(-rc));
            goto out;
        }
        rc = 0;
    }
    rc = export_prog(ctx, prog, er);
out:
    seccomp_release(ctx);
    return rc < 0 ? -1 : 0;
}
