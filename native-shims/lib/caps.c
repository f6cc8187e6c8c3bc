#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

static const char *const cap_names[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define N_CAPS ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

int hlx_cap_number(const char *name)
{
    if (strncasecmp(name, "cap_", 4) == 0)
        name += 4;
    for (int i = 0; i < N_CAPS; i++)
        if (strcasecmp(name, cap_names[i]) == 0)
            return i;
    return -1;
}

static const struct {
    const char *name;
    int res;
} rlimits[] = {
    {"as", RLIMIT_AS}, {"core", RLIMIT_CORE}, {"cpu", RLIMIT_CPU}, {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE}, {"locks", RLIMIT_LOCKS}, {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE}, {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC}, {"rss", RLIMIT_RSS}, {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME}, {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};

int hlx_rlimit_number(const char *name)
{
    if (strncasecmp(name, "rlimit_", 7) == 0)
        name += 7;
    for (size_t i = 0; i < sizeof(rlimits) / sizeof(rlimits[0]); i++)
        if (strcasecmp(name, rlimits[i].name) == 0)
            return rlimits[i].res;
    return -1;
}

int hlx_caps_drop_bounding(unsigned long long mask, struct hlx_err *er)
{
    for (int i = 0; i < 64; i++) {
        if (!(mask & (1ULL << i)))
            continue;
        /* A capability this kernel does not know is not held either. */
        if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
            return hlx_fail(er, errno, "Failed dropping capability %s: %s",
                            i < N_CAPS ? cap_names[i] : "?", strerror(errno));
    }
    return 0;
}

int hlx_apply_rlimits(const struct hlx_spec *spec, struct hlx_err *er)
{
    for (int i = 0; i < spec->n_rlimits; i++)
        if (setrlimit(spec->rlimits[i].resource, &spec->rlimits[i].lim) < 0)
            return hlx_fail(er, errno, "Failed setting rlimit %d: %s", spec->rlimits[i].resource,
                            strerror(errno));
    return 0;
}
