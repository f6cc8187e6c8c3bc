/* uid_map / gid_map of a freshly cloned child, written by its (root) parent. */
#ifndef HLX_IDMAP_H
#define HLX_IDMAP_H

#include "spec.h"

/* Writes /proc/PID/uid_map and gid_map from the spec. The parent is root in the initial user
 * namespace, so setgroups stays "allow" and any range may be mapped. */
int hlx_idmap_write(pid_t pid, const struct hlx_spec *spec, struct hlx_err *er);

/* A detached, recursive clone of the mount tree at path, idmapped to the user namespace usernsfd
 * (MOUNT_ATTR_IDMAP): files owned by 0 on disk appear as the namespace's root. Returns the mount fd
 * (close-on-exec; attach it with move_mount) or -1. The filesystem must support idmapped mounts. */
int hlx_idmap_mount_fd(const char *path, int usernsfd, struct hlx_err *er);
/* The same for the user namespace of process pid (its maps must be written). */
int hlx_idmap_mount_for(pid_t pid, const char *path, struct hlx_err *er);
/* Whether an idmapped mount of path can be made (a throwaway user namespace). 0, or -1 with er. */
int hlx_idmap_probe(const char *path, struct hlx_err *er);

#endif
