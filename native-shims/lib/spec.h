/* The container spec: a line-based file of escaped fields the daemon writes (see README.md, "Container spec"). */
#ifndef HLX_SPEC_H
#define HLX_SPEC_H

#include "util.h"

#include <stdio.h>
#include <sys/resource.h>

#define HLX_MAX_IDMAPS 8

struct hlx_idmap {
    unsigned long inside, outside, count;
};

struct hlx_bind {
    char *src, *dst;
    int ro;
};

struct hlx_rlimit {
    int resource;
    struct rlimit lim;
};

struct hlx_seccomp_rule {
    char *syscall;
    int err;
};

/* One device allow-list rule, as in v1 devices.allow: "c 1:3 rwm", "b *:* m", "a". */
struct hlx_dev_rule {
    char type;          /* 'c', 'b', or 'a' (any) */
    long major, minor;  /* -1 = any */
    unsigned access;    /* BPF_DEVCG_ACC_* bits: 1 mknod, 2 read, 4 write */
};

#define HLX_MAX_DEV_RULES 128

/* One "nic HOST NAME HWADDR MTU BRIDGE": a veth pair made at the sync step, HOST in P's netns (on BRIDGE
 * unless it is "-"), NAME born in the container's netns with HWADDR (or "-": the kernel's) and MTU (0: default). */
struct hlx_nic {
    char host[16], name[16], bridge[16]; /* IFNAMSIZ; bridge "" for none */
    unsigned char hwaddr[6];
    int has_hwaddr;
    unsigned mtu;
};

#define HLX_MAX_NICS 32

/* NULL-terminated growable string vector. */
struct hlx_strv {
    char **v;
    int n;
};

struct hlx_spec {
    char *rootfs;   /* required, absolute */
    char *hostname; /* optional */
    char *cwd;      /* default "/" */
    struct hlx_idmap uidmap[HLX_MAX_IDMAPS], gidmap[HLX_MAX_IDMAPS];
    int n_uidmap, n_gidmap; /* none at all: privileged (no user namespace) */
    struct hlx_strv cgroups; /* cgroup directories to join, absolute under /sys/fs/cgroup/ */
    struct hlx_bind *binds;
    int n_binds;
    struct hlx_bind *cgroupfs; /* the container's own cgroup dirs: src = host dir, dst = name under /sys/fs/cgroup ("." = itself) */
    int n_cgroupfs;
    struct hlx_rlimit *rlimits;
    int n_rlimits;
    unsigned long long cap_drop; /* bit per capability */
    struct hlx_seccomp_rule *seccomp;
    int n_seccomp;
    struct hlx_strv env;  /* K=V */
    struct hlx_strv argv; /* default /sbin/init */
    int host_netns;       /* "netns host" */
    int rootfs_idmap;     /* "rootfs-idmap yes": an idmapped mount of the unshifted rootfs */
    int nesting;          /* "nesting yes": proc and sys unmasked and writable, so nested containers can mount them */
    struct hlx_dev_rule *devices; /* "device-allow": enforced by an eBPF program on the cgroup2 dir */
    int n_devices;
    struct hlx_nic nics[HLX_MAX_NICS]; /* moved in by the parent before GO (README.md, "Start protocol") */
    int n_nics;
};

/* Undoes a field's escapes in place (\\ is a backslash, \xHH a byte other than 00); 0, or -1 on a bad escape. */
int hlx_spec_unescape(char *s);

/* Parses a spec from f (name is for messages). Returns 0, or -1 with er filled
 * ("line 3: unknown key \"foo\""); on failure the spec is freed. */
int hlx_spec_parse(FILE *f, const char *name, struct hlx_spec *spec, struct hlx_err *er);
int hlx_spec_load(const char *path, struct hlx_spec *spec, struct hlx_err *er);
void hlx_spec_free(struct hlx_spec *spec);

/* Adds LXD's default seccomp deny list to the spec ("seccomp default"). */
int hlx_spec_seccomp_defaults(struct hlx_spec *spec);
/* LXD's default container capability drops (sys_time sys_module sys_rawio mac_admin mac_override). */
unsigned long long hlx_default_cap_drop(void);

/* Whether the kernel would take s as an interface name (dev_valid_name): 1-15 bytes, not "." or
 * "..", no '/', ':' or whitespace. */
int hlx_valid_ifname(const char *s);

/* "xx:xx:xx:xx:xx:xx" into 6 bytes: 1 when it is one. */
int hlx_parse_mac(const char *s, unsigned char mac[6]);

/* Parses a device rule ("c 1:3 rwm", "b *:* m", "a"); 0 or -1. */
int hlx_dev_rule_parse(const char *s, struct hlx_dev_rule *r);

int hlx_strv_push(struct hlx_strv *sv, const char *s);
void hlx_strv_free(struct hlx_strv *sv);

/* Maps an id inside the container to the host through the given map; -1 when unmapped. */
long hlx_idmap_outside(const struct hlx_idmap *maps, int n, unsigned long inside);

#endif
