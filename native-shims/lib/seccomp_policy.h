/* The container's seccomp deny list, loaded through libseccomp. */
#ifndef HLX_SECCOMP_POLICY_H
#define HLX_SECCOMP_POLICY_H

#include "spec.h"

#include <linux/filter.h>
#include <linux/seccomp.h>

/* Loads a filter denying each rule's syscall with its errno (for the native, x86 and x32 ABIs);
 * "umount2:force" denies umount2 only with MNT_FORCE. Unknown syscall names are errors. Does not
 * set no_new_privs: the caller holds CAP_SYS_ADMIN in its user namespace. No rules: no filter. */
int hlx_seccomp_load(const struct hlx_seccomp_rule *rules, int n, struct hlx_err *er);

/* The same in two steps: compile the BPF program once (prog->len 0: no rules, nothing to load),
 * install it in any number of processes later (cheap: one syscall), free it. Each returns 0, or -1
 * with *er filled. */
int hlx_seccomp_compile(const struct hlx_seccomp_rule *rules, int n, struct sock_fprog *prog, struct hlx_err *er);
int hlx_seccomp_install(const struct sock_fprog *prog, struct hlx_err *er);
void hlx_seccomp_free(struct sock_fprog *prog);

#endif
