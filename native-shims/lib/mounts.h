/* The container's mount namespace: rootfs, proc, sys, /dev, devpts, mqueue, shm, masks, binds,
 * pivot_root. Every target is opened inside the rootfs with openat2(RESOLVE_IN_ROOT), so symlinks
 * the container planted cannot send a mount to the host. */
#ifndef HLX_MOUNTS_H
#define HLX_MOUNTS_H

#include "spec.h"

/* Step 1, still with the host credentials (the rootfs path may be host-root-only): makes the new
 * mount namespace a slave of the host, bind-mounts the rootfs onto itself (or, with idmapfd >= 0,
 * attaches that detached idmapped tree there instead) and returns an O_PATH fd of it (the caller
 * keeps it and passes it to hlx_mounts_setup). */
int hlx_mounts_prepare_root(const struct hlx_spec *spec, int idmapfd, struct hlx_err *er);

/* Step 2, as root of the container (ids switched, umask 0): everything else, then pivot_root into
 * rootfd. console is the host path of the pty slave to bind on /dev/console, or NULL. */
int hlx_mounts_setup(const struct hlx_spec *spec, int rootfd, const char *console,
                     struct hlx_err *er);

/* Hot-plug (hyperlxd-nsexec mount): makes sure rel exists inside the root rootfd (a directory, or an
 * empty file when file is set), creating missing levels one at a time inside the root exactly as the
 * start's bind lines do; returns an O_PATH fd of it, or -1 with errno. */
int hlx_mounts_ensure_target(int rootfd, const char *rel, int file);

/* openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) of rel inside rootfd. */
int hlx_mounts_open_in_root(int rootfd, const char *rel, int flags);

#endif
