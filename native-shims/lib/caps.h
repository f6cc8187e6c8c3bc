/* Capabilities (bounding-set drops) and resource limits applied right before exec. */
#ifndef HLX_CAPS_H
#define HLX_CAPS_H

#include "spec.h"

/* "sys_time", "CAP_SYS_TIME" -> 25; -1 when unknown. */
int hlx_cap_number(const char *name);
/* "nofile", "RLIMIT_NOFILE" -> RLIMIT_NOFILE; -1 when unknown. */
int hlx_rlimit_number(const char *name);

/* Drops every capability in mask from the bounding set (what an exec'd root process can hold). */
int hlx_caps_drop_bounding(unsigned long long mask, struct hlx_err *er);
int hlx_apply_rlimits(const struct hlx_spec *spec, struct hlx_err *er);

#endif
