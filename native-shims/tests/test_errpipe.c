/* ctest: the error-report pipe in its real use: fork, exec or report, parent reads. */
#include "errpipe.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Forks a child that execs path; returns what the parent read from the pipe. */
static int spawn(const char *path, int *err, char *msg, size_t size)
{
    int fds[2];
    pid_t pid;
    int rc, status;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        perror("pipe2");
        exit(2);
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        char *const argv[] = {(char *)path, NULL};
        close(fds[0]);
        execv(path, argv);
        hlx_errpipe_report(fds[1], errno, "exec %s: %s", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    rc = hlx_errpipe_read(fds[0], err, msg, size);
    close(fds[0]);
    waitpid(pid, &status, 0);
    return rc;
}

static void test_exec_success_is_eof(void)
{
    int err = -1;
    char msg[64] = "untouched";
    const char *truth = access("/bin/true", X_OK) == 0 ? "/bin/true" : "/usr/bin/true";
    CHECK(spawn(truth, &err, msg, sizeof(msg)) == 0);
    CHECK(err == -1);
    CHECK(strcmp(msg, "untouched") == 0);
}

static void test_exec_failure_reports_errno_and_message(void)
{
    int err = 0;
    char msg[HLX_ERRPIPE_MAX];
    CHECK(spawn("/nonexistent/hyperlxd-test", &err, msg, sizeof(msg)) == 1);
    CHECK(err == ENOENT);
    CHECK(strstr(msg, "/nonexistent/hyperlxd-test") != NULL);
}

static void test_long_message_truncated(void)
{
    int fds[2], err = 0;
    char big[3000], msg[8];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(pipe(fds) == 0);
    CHECK(hlx_errpipe_report(fds[1], EPERM, "%s", big) == 0);
    close(fds[1]);
    CHECK(hlx_errpipe_read(fds[0], &err, msg, sizeof(msg)) == 1);
    CHECK(err == EPERM);
    CHECK(strcmp(msg, "xxxxxxx") == 0);
    close(fds[0]);
}

static void test_short_record_is_protocol_error(void)
{
    int fds[2], err = 0;
    char msg[16];
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "abc", 3) == 3);
    close(fds[1]);
    errno = 0;
    CHECK(hlx_errpipe_read(fds[0], &err, msg, sizeof(msg)) == -1);
    CHECK(errno == EPROTO);
    close(fds[0]);
}

int main(void)
{
    test_exec_success_is_eof();
    test_exec_failure_reports_errno_and_message();
    test_long_message_truncated();
    test_short_record_is_protocol_error();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("errpipe: all checks passed");
    return 0;
}
