#ifndef HLX_ATTACH_H
#define HLX_ATTACH_H

#include "spec.h"

#include <sched.h>

/* Exit status of attach when entering the container failed (before exec); 126/127 are exec
 * failures as in sh; any other status is the command's own. */
#define HLX_ATTACH_SETUP_FAILED 125

struct hlx_attach {
    pid_t pid;                  /* host pid of a process of the container (its init) */
    uid_t uid;
    gid_t gid;
    const char *cwd;
    char **env;                 /* K=V, NULL-terminated */
    char **argv;
    int errfd;                  /* -1: errors as one line on stderr; else an errpipe record */
    /* Unix socket (host path, connected before entering) that receives the master of a new pty
     * of the container's own devpts; the slave is the command's stdio and controlling terminal. */
    const char *tty_socket;
    unsigned short tty_cols, tty_rows; /* its initial window size; 0: none */
    unsigned long long cap_drop;
    const struct hlx_seccomp_rule *seccomp;
    int n_seccomp;
    /* A prepared helper (attach --deferred): called once inside the container, before the fork, to
     * fill in the command (uid, gid, cwd, env, argv) that was not known when the helper started.
     * 0, or -1 with *er filled. */
    int (*deferred)(struct hlx_attach *o, struct hlx_err *er);
    void *deferred_ctx;
};

/* Runs the command in the container; returns the exit status to exit with. */
int hlx_attach(struct hlx_attach *o);

#define HLX_ATTACH_ALL_NS \
    (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)

/* setns()es through pidfd (of pid) into those of the `namespaces` (CLONE_NEW* mask) that differ
 * from ours: re-entering our own user namespace would be EINVAL. 0, or -1 with *er filled. */
int hlx_attach_enter(int pidfd, pid_t pid, int namespaces, struct hlx_err *er);

#endif
