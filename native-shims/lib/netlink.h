/* The one rtnetlink request the start path needs, in plain C over a NETLINK_ROUTE socket. */
#ifndef HLX_NETLINK_H
#define HLX_NETLINK_H

#include "spec.h"

/* Moves each of the spec's nics (a link of the caller's netns) into the netns of pid, renamed and up,
 * one RTM_NEWLINK each. 0, or -1 with er = "nic PEER: ...". */
int hlx_nics_move(const struct hlx_spec *spec, pid_t pid, struct hlx_err *er);

#endif
