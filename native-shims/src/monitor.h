/* hyperlxd-monitor: shared state of the per-container monitor (see README.md, "Monitor"). */
#ifndef HLX_MONITOR_H
#define HLX_MONITOR_H

#include "ringbuf.h"

#include <sys/types.h>

#define MON_MAX_CLIENTS 16
#define MON_LINE_MAX 256

enum client_mode { CLIENT_LINES, CLIENT_STREAM, CLIENT_CONSOLE_FD };

struct mon_client {
    int fd;                 /* -1: free slot */
    enum client_mode mode;
    int waiting;            /* "wait"/"stop" pending: reply with the status once stopped */
    int read_closed;        /* peer shut down its side; keep only for a pending reply */
    size_t len;
    char in[MON_LINE_MAX];
};

struct mon {
    const char *name, *sock_path, *state_path, *log_path;
    int listen_fd, sig_fd, master, slave;
    pid_t init_pid, monitor_pid;
    int pidfd;
    int stopped, wait_status;
    long long kill_deadline_ms; /* 0: none; else CLOCK_MONOTONIC ms when SIGKILL follows */
    struct hlx_ring ring;
    struct mon_client clients[MON_MAX_CLIENTS];
};

/* "name=N state=running init_pid=P monitor_pid=M [exit_code=C exit_signal=S reason=R]" */
void mon_status_line(const struct mon *m, char *buf, size_t size);
/* Writes the state file atomically (tmp + rename). */
int mon_write_state(const struct mon *m);
/* The event loop; returns when the container has stopped and every reply went out. */
void mon_serve(struct mon *m);

#endif
