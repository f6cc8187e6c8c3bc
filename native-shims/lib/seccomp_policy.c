#include "seccomp_policy.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mount.h>

int hlx_seccomp_load(const struct hlx_seccomp_rule *rules, int n, struct hlx_err *er)
{
    scmp_filter_ctx ctx;
    int rc = 0;

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
    rc = seccomp_load(ctx);
    if (rc < 0)
        hlx_fail(er, -rc, "Failed loading seccomp: %s", strerror(-rc));
out:
    seccomp_release(ctx);
    return rc < 0 ? -1 : 0;
}
