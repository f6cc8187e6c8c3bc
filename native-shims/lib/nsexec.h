/* Container start: clone3 into new namespaces and the parent/child sync protocol
 * (README.md, "Start protocol"). Linked into hyperlxd-monitor and hyperlxd-nsexec. */
#ifndef HLX_NSEXEC_H
#define HLX_NSEXEC_H

#include "spec.h"

struct hlx_start {
    const struct hlx_spec *spec;
    int console_slave;        /* pty slave for the init's stdio, or -1 to inherit stdio */
    const char *console_path; /* host path of that slave (bound on /dev/console) */
};

struct hlx_started {
    pid_t pid;  /* host pid of the container's init */
    int pidfd;  /* close-on-exec pidfd of it */
};

/* Clones the init, maps ids, joins cgroups, sends GO and waits for the
 * exec (EOF) or the child's (errno, message). On failure the child is killed and reaped. */
int hlx_container_start(const struct hlx_start *st, struct hlx_started *out, struct hlx_err *er);

/* Default PATH given to init and attached commands when the env has none. */
#define HLX_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Resets every signal to default and unblocks all: the monitor's dispositions must not leak. */
void hlx_reset_signals(void);
/* clearenv + the given K=V entries (+ default PATH), then execvp(argv). Returns only on error. */
void hlx_exec(char *const argv[], char *const env[]);

#endif
