/* A file broker client for the ctest (test_file_broker.sh): starts the broker command with a
 * socketpair end on fd 3, sends the requests given as arguments and prints one line per reply:
 *   ok MODE UID GID SIZE [DATA]   (MODE octal; DATA: a link target, directory names joined with
 *                                  ',' or a received file's content)
 *   err ERRNO MESSAGE
 * Usage: test_file_client REQUEST... -- BROKER ARGS...   (BROKER is told to serve on fd 3)
 * Requests: get PATH | put PATH TEXT UID GID MODE | append PATH TEXT | mkdir PATH UID GID MODE |
 *           symlink PATH TARGET UID GID | delete PATH   ("-" for an id or mode not given) */
#include "attach_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static uint32_t num(const char *s, int base)
{
    return strcmp(s, "-") == 0 ? HLX_FILE_NONE : (uint32_t)strtoul(s, NULL, base);
}

static int recv_reply(int sock, struct hlx_file_reply *r, char **data, int *fd)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    size_t got = 0;
    *fd = -1;
    while (got < sizeof(*r)) {
        struct iovec iov = {.iov_base = (char *)r + got, .iov_len = sizeof(*r) - got};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
        ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            return -1;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
            if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
                memcpy(fd, CMSG_DATA(h), sizeof(int));
        got += (size_t)n;
    }
    *data = calloc(1, r->data_len + 1);
    for (got = 0; got < r->data_len;) {
        ssize_t n = read(sock, *data + got, r->data_len - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int request(int sock, uint32_t op, uint32_t flags, const char *path, const char *arg, uint32_t uid, uint32_t gid,
                   uint32_t mode, const char *content)
{
    struct hlx_file_req q = {.op = op, .flags = flags, .uid = uid, .gid = gid, .mode = mode,
                             .path_len = (uint32_t)strlen(path), .arg_len = (uint32_t)strlen(arg)};
    struct hlx_file_reply r;
    char *data;
    int fd;
    if (write(sock, &q, sizeof(q)) != sizeof(q) || write(sock, path, q.path_len) != (ssize_t)q.path_len ||
        write(sock, arg, q.arg_len) != (ssize_t)q.arg_len || recv_reply(sock, &r, &data, &fd) < 0) {
        puts("protocol error");
        return -1;
    }
    if (r.err) {
        printf("err %d %s\n", r.err, data);
    } else {
        printf("ok %o %u %u ", r.mode, r.uid, r.gid);
        if (S_ISDIR(r.mode)) /* a directory's size is the filesystem's business */
            putchar('-');
        else
            printf("%llu", (unsigned long long)r.size);
        if (fd >= 0 && content) {
            if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
                printf(" (short write)");
        } else if (fd >= 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf) - 1);
            printf(" %.*s", (int)(n > 0 ? n : 0), buf);
        } else if (r.data_len) {
            for (uint32_t i = 0; i + 1 < r.data_len; i++)
                if (data[i] == '\0')
                    data[i] = ',';
            printf(" %s", data);
        }
        putchar('\n');
    }
    if (fd >= 0)
        close(fd);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int sv[2], i, dash, status;
    struct hlx_file_reply r;
    char *data;
    int fd;
    pid_t pid;

    for (dash = 1; dash < argc && strcmp(argv[dash], "--") != 0; dash++)
        ;
    if (dash + 1 >= argc || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 2;
    if ((pid = fork()) == 0) {
        if (dup2(sv[1], 3) < 0)
            _exit(2);
        execv(argv[dash + 1], argv + dash + 1);
        _exit(127);
    }
    close(sv[1]);
    if (recv_reply(sv[0], &r, &data, &fd) < 0) {
        puts("no hello");
        return 1;
    }
    if (r.err) {
        printf("hello err %d %s\n", r.err, data);
    }
    free(data);
    for (i = 1; i < dash && !r.err;) {
        const char *op = argv[i];
        int left = dash - i - 1;
        if (strcmp(op, "get") == 0 && left >= 1) {
            request(sv[0], HLX_FILE_GET, 0, argv[i + 1], "", HLX_FILE_NONE, HLX_FILE_NONE, HLX_FILE_NONE, NULL);
            i += 2;
        } else if (strcmp(op, "put") == 0 && left >= 5) {
            request(sv[0], HLX_FILE_PUT, 0, argv[i + 1], "", num(argv[i + 3], 10), num(argv[i + 4], 10), num(argv[i + 5], 8),
                    argv[i + 2]);
            i += 6;
        } else if (strcmp(op, "append") == 0 && left >= 2) {
            request(sv[0], HLX_FILE_PUT, HLX_FILE_APPEND, argv[i + 1], "", HLX_FILE_NONE, HLX_FILE_NONE, HLX_FILE_NONE,
                    argv[i + 2]);
            i += 3;
        } else if (strcmp(op, "mkdir") == 0 && left >= 4) {
            request(sv[0], HLX_FILE_MKDIR, 0, argv[i + 1], "", num(argv[i + 2], 10), num(argv[i + 3], 10), num(argv[i + 4], 8), NULL);
            i += 5;
        } else if (strcmp(op, "symlink") == 0 && left >= 4) {
            request(sv[0], HLX_FILE_SYMLINK, 0, argv[i + 1], argv[i + 2], num(argv[i + 3], 10), num(argv[i + 4], 10),
                    HLX_FILE_NONE, NULL);
            i += 5;
        } else if (strcmp(op, "delete") == 0 && left >= 1) {
            request(sv[0], HLX_FILE_DELETE, 0, argv[i + 1], "", HLX_FILE_NONE, HLX_FILE_NONE, HLX_FILE_NONE, NULL);
            i += 2;
        } else {
            fprintf(stderr, "bad request %s\n", op);
            return 2;
        }
    }
    close(sv[0]); /* EOF: the broker exits */
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    printf("exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
