/* The one rtnetlink request per nic the start path needs, in plain C over a NETLINK_ROUTE socket. */
#ifndef HLX_NETLINK_H
#define HLX_NETLINK_H

#include "spec.h"

/* Creates each of the spec's nics as a veth pair: the host end in the caller's netns (on its bridge, up),
 * the other end born in the netns of pid, named, addressed and up; two RTM_NEWLINKs each. 0, or -1 with
 * er = "nic NAME: ...". A pair made before a failure dies with pid's netns (a veth takes its peer along). */
int hlx_nics_create(const struct hlx_spec *spec, pid_t pid, struct hlx_err *er);

#endif
