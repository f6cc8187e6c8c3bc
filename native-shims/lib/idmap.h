/* uid_map / gid_map of a freshly cloned child, written by its (root) parent. */
#ifndef HLX_IDMAP_H
#define HLX_IDMAP_H

#include "spec.h"

/* Writes /proc/PID/uid_map and gid_map from the spec. The parent is root in the initial user
 * namespace, so setgroups stays "allow" and any range may be mapped. */
int hlx_idmap_write(pid_t pid, const struct hlx_spec *spec, struct hlx_err *er);

#endif
