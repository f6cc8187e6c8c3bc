/* cgroup placement (hybrid v1 + v2 layout; see README.md, "cgroups"). */
#ifndef HLX_CGROUPS_H
#define HLX_CGROUPS_H

#include "spec.h"

/* Creates each spec cgroup directory that is missing (filling v1 cpuset.cpus/mems from the parent
 * at every new level). Returns a directory fd (O_CLOEXEC) of the first cgroup2 one, for clone3's
 * CLONE_INTO_CGROUP (init then never runs outside its group), -1 when there is none, -2 on error. */
int hlx_cgroups_prepare(const struct hlx_spec *spec, struct hlx_err *er);

/* Moves pid into each spec cgroup (made by hlx_cgroups_prepare); with skip_cgroup2, not into the
 * first cgroup2 one (pid was cloned into it). */
int hlx_cgroups_join(const struct hlx_spec *spec, pid_t pid, int skip_cgroup2, struct hlx_err *er);

/* Moves the calling process into every cgroup that pid is in (read from /proc/PID/cgroup), so an
 * attached command is accounted and limited like the container. Root cgroups are skipped. With
 * memfds, the cgroups that carry the memory controller are not joined: their cgroup.procs are
 * opened (O_CLOEXEC) into memfds instead, for the command's own process to join with
 * hlx_cgroups_join_fds (so a helper that only waits is never the memory cgroup's OOM victim).
 * Returns how many were opened, or -1 with *er filled. */
int hlx_cgroups_attach_self(pid_t pid, int *memfds, int max_memfds, struct hlx_err *er);

/* Moves the calling process into the cgroups of fds (cgroup.procs files) and closes them. */
int hlx_cgroups_join_fds(int *fds, int n, struct hlx_err *er);

#endif
