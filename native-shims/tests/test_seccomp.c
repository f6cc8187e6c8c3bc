/* ctest: the seccomp deny list compiled once and installed in several children (as a prepared
 * attach helper does), each denial answering its errno and nothing else denied. Root: installs
 * the filter without no_new_privs, as the helpers do. */
#include "seccomp_policy.h"
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs the checks in a child that installs prog; its exit status counts its failed checks. */
static int in_filtered_child(const struct sock_fprog *prog)
{
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        struct hlx_err er = {0};
        int bad = 0;
        if (hlx_seccomp_install(prog, &er) < 0) {
            fprintf(stderr, "install: %s\n", er.msg);
            _exit(100);
        }
        errno = 0;
        bad += !(syscall(SYS_keyctl, 0, 0, 0, 0, 0) == -1 && errno == ENOSYS);
        errno = 0;
        bad += !(syscall(SYS_kexec_load, 0, 0, 0, 0) == -1 && errno == EPERM);
        /* umount2 is denied only with MNT_FORCE: without it the kernel answers (ENOENT here). */
        errno = 0;
        bad += !(umount2("/nonexistent-hlx", MNT_FORCE) == -1 && errno == EPERM);
        errno = 0;
        bad += !(umount2("/nonexistent-hlx", 0) == -1 && errno == ENOENT);
        bad += getppid() <= 0;
        _exit(bad);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 99;
    return WEXITSTATUS(status);
}

int main(void)
{
    static const struct hlx_seccomp_rule rules[] = {
        {"kexec_load", EPERM}, {"keyctl", ENOSYS}, {"umount2:force", EPERM}, {"keyctl", EPERM} /* first wins */,
    };
    static const struct hlx_seccomp_rule unknown[] = {{"no_such_syscall", EPERM}};
    struct sock_fprog prog = {0};
    struct hlx_err er = {0};

    if (getuid() != 0) {
        fprintf(stderr, "needs root\n");
        return 1;
    }
    CHECK(hlx_seccomp_compile(rules, 4, &prog, &er) == 0 && prog.len > 0);
    CHECK(in_filtered_child(&prog) == 0);
    CHECK(in_filtered_child(&prog) == 0); /* the same program, installed again */
    hlx_seccomp_free(&prog);
    CHECK(prog.filter == NULL && prog.len == 0);

    CHECK(hlx_seccomp_compile(rules, 0, &prog, &er) == 0 && prog.len == 0);
    CHECK(hlx_seccomp_install(&prog, &er) == 0); /* no rules: nothing installed */

    CHECK(hlx_seccomp_compile(unknown, 1, &prog, &er) == -1 && er.err == EINVAL);
    CHECK(strstr(er.msg, "unknown syscall \"no_such_syscall\"") != NULL);
    CHECK(prog.filter == NULL);

    if (failures == 0)
        printf("seccomp: all checks passed\n");
    return failures ? 1 : 0;
}
