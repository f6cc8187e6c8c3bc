/* Device allow-list on cgroup2: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) built from the spec's
 * device-allow rules and attached with raw bpf(2) calls (no libbpf). */
#ifndef HLX_DEVICES_BPF_H
#define HLX_DEVICES_BPF_H

#include "spec.h"

#include <linux/bpf.h>

/* Writes the program for rules into insns (room for hlx_devices_prog_len(n) instructions): allow
 * when one rule matches type, major, minor and every requested access, else deny. Returns its length. */
int hlx_devices_prog(const struct hlx_dev_rule *rules, int n, struct bpf_insn *insns);
int hlx_devices_prog_len(int n);

/* Loads the program and attaches it to the cgroup2 directory cgfd (BPF_F_ALLOW_MULTI: a nested
 * group's own program can only restrict further). The attachment lives as long as the group. */
int hlx_devices_attach(int cgfd, const struct hlx_dev_rule *rules, int n, struct hlx_err *er);

#endif
