/* Parser of the line-based container spec. One "key value" per line; '#' comments. A value is one
 * or more fields separated by single spaces; inside a field, backslash, space and control characters
 * are escaped (\\ and \xHH), so no field can end its line, split into two fields or start a
 * directive (README.md, "Container spec"). Raw control characters, bad escapes and extra fields are
 * errors, as are unknown keys, so a typo in the daemon is caught at once. */
#include "spec.h"
#include "caps.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int hlx_strv_push(struct hlx_strv *sv, const char *s)
{
    char **v = realloc(sv->v, sizeof(char *) * (size_t)(sv->n + 2));
    if (!v)
        return -1;
    sv->v = v;
    if (!(v[sv->n] = strdup(s)))
        return -1;
    v[++sv->n] = NULL;
    return 0;
}

void hlx_strv_free(struct hlx_strv *sv)
{
    for (int i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

void hlx_spec_free(struct hlx_spec *spec)
{
    free(spec->rootfs);
    free(spec->hostname);
    free(spec->cwd);
    hlx_strv_free(&spec->cgroups);
    for (int i = 0; i < spec->n_binds; i++) {
        free(spec->binds[i].src);
        free(spec->binds[i].dst);
    }
    free(spec->binds);
    for (int i = 0; i < spec->n_cgroupfs; i++) {
        free(spec->cgroupfs[i].src);
        free(spec->cgroupfs[i].dst);
    }
    free(spec->cgroupfs);
    free(spec->rlimits);
    for (int i = 0; i < spec->n_seccomp; i++)
        free(spec->seccomp[i].syscall);
    free(spec->seccomp);
    hlx_strv_free(&spec->env);
    hlx_strv_free(&spec->argv);
    free(spec->devices);
    memset(spec, 0, sizeof(*spec));
}

long hlx_idmap_outside(const struct hlx_idmap *maps, int n, unsigned long inside)
{
    for (int i = 0; i < n; i++)
        if (inside >= maps[i].inside && inside - maps[i].inside < maps[i].count)
            return (long)(maps[i].outside + (inside - maps[i].inside));
    return -1;
}

unsigned long long hlx_default_cap_drop(void)
{
    static const char *const drops[] = {"sys_time", "sys_module", "sys_rawio", "mac_admin",
                                        "mac_override"};
    unsigned long long m = 0;
    for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
        m |= 1ULL << hlx_cap_number(drops[i]);
    return m;
}

static int add_seccomp(struct hlx_spec *spec, const char *name, int err)
{
    struct hlx_seccomp_rule *r = realloc(spec->seccomp, sizeof(*r) * (size_t)(spec->n_seccomp + 1));
    if (!r)
        return -1;
    spec->seccomp = r;
    if (!(r[spec->n_seccomp].syscall = strdup(name)))
        return -1;
    r[spec->n_seccomp++].err = err;
    return 0;
}

int hlx_spec_seccomp_defaults(struct hlx_spec *spec)
{
    /* LXD's default deny list; the keyring calls answer ENOSYS so callers fall back quietly. */
    static const struct {
        const char *name;
        int err;
    } deny[] = {
        {"kexec_load", EPERM},       {"kexec_file_load", EPERM}, {"open_by_handle_at", EPERM},
        {"init_module", EPERM},      {"finit_module", EPERM},    {"delete_module", EPERM},
        {"keyctl", ENOSYS},          {"add_key", ENOSYS},        {"request_key", ENOSYS},
        {"umount2:force", EPERM}, /* LXD's reject_force_umount: umount2 with MNT_FORCE */
    };
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
        if (add_seccomp(spec, deny[i].name, deny[i].err) < 0)
            return -1;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int hlx_spec_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (*r != '\\') {
            *w++ = *r;
        } else if (r[1] == '\\') {
            *w++ = '\\';
            r++;
        } else if (r[1] == 'x' && (hi = hexval(r[2])) >= 0 && (lo = hexval(r[3])) >= 0 && (hi | lo)) {
            *w++ = (char)(hi << 4 | lo); /* \x00 is refused: a C string cannot hold it */
            r += 3;
        } else {
            return -1;
        }
    }
    *w = '\0';
    return 0;
}

/* Splits val at single spaces into min..max fields and unescapes each in place. Returns the count,
 * or -1 when there are too few or too many fields or an escape is bad. */
static int fields(char *val, char **f, int min, int max)
{
    int n = 0;
    for (char *s = val;;) {
        char *sp = strchr(s, ' ');
        if (n == max)
            return -1;
        if (sp)
            *sp = '\0';
        if (hlx_spec_unescape(s) < 0)
            return -1;
        f[n++] = s;
        if (!sp)
            break;
        s = sp + 1;
    }
    return n < min ? -1 : n;
}

/* A single-field value, unescaped in place; -1 when it has a raw space or a bad escape. */
static int one(char *val)
{
    char *f[1];
    return fields(val, f, 1, 1);
}

static int parse_ulong(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *s == '\0' || *end || *s == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_limit(const char *s, rlim_t *out)
{
    unsigned long v;
    if (strcmp(s, "unlimited") == 0) {
        *out = RLIM_INFINITY;
        return 0;
    }
    if (parse_ulong(s, &v) < 0)
        return -1;
    *out = (rlim_t)v;
    return 0;
}

/* "*" (any: -1) or a decimal number up to max. */
static int parse_dev_number(const char *s, const char *end, long max, long *out)
{
    long v = 0;
    if (end - s == 1 && *s == '*') {
        *out = -1;
        return 0;
    }
    if (s == end)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > max)
            return -1;
    }
    *out = v;
    return 0;
}

int hlx_dev_rule_parse(const char *s, struct hlx_dev_rule *r)
{
    const char *colon, *space;
    if (strcmp(s, "a") == 0) {
        *r = (struct hlx_dev_rule){.type = 'a', .major = -1, .minor = -1, .access = 7};
        return 0;
    }
    if (s[0] == '\0' || !strchr("abc", s[0]) || s[1] != ' ' || !(colon = strchr(s + 2, ':')) ||
        !(space = strchr(colon, ' ')))
        return -1;
    r->type = s[0];
    /* Majors have 12 bits, minors 20. */
    if (parse_dev_number(s + 2, colon, 4095, &r->major) < 0 ||
        parse_dev_number(colon + 1, space, 1048575, &r->minor) < 0)
        return -1;
    r->access = 0;
    for (const char *a = space + 1; *a; a++) {
        unsigned bit = *a == 'm' ? 1 : *a == 'r' ? 2 : *a == 'w' ? 4 : 0;
        if (!bit || (r->access & bit))
            return -1;
        r->access |= bit;
    }
    return r->access ? 0 : -1;
}

/* "xx:xx:xx:xx:xx:xx" (hex, either case) into 6 bytes; 1 when it is one. */
int hlx_parse_mac(const char *s, unsigned char mac[6])
{
    for (int i = 0; i < 6; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char ch = *s++;
            unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                       : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                       : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16u;
            if (d > 15)
                return 0;
            v = v * 16 + d;
        }
        mac[i] = (unsigned char)v;
        if (*s != (i < 5 ? ':' : '\0'))
            return 0;
        s++;
    }
    return 1;
}

int hlx_valid_ifname(const char *s)
{
    size_t l = strlen(s);
    if (l == 0 || l > 15 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; *s; s++)
        if (*s == '/' || *s == ':' || *s == ' ' || (*s >= '\t' && *s <= '\r'))
            return 0;
    return 1;
}

/* Absolute and without ".." components: the daemon never needs them and they hide escapes. */
static int abs_path(const char *p)
{
    size_t l = strlen(p);
    return p[0] == '/' && !strstr(p, "/../") && !(l >= 3 && strcmp(p + l - 3, "/..") == 0);
}

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = strdup(v);
    return *dst ? 0 : -1;
}

/* Handles one line; returns 0, or -1 with er->msg set (without the line prefix). */
static int parse_line(struct hlx_spec *spec, char *key, char *val, struct hlx_err *er)
{
    char *f[5] = {0};
    int n;

    static const char *const single[] = {"rootfs", "hostname", "cwd", "cgroup", "cap-drop", "seccomp",
                                         "env", "arg", "netns", "nesting", "rootfs-idmap"};
    for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
        if (strcmp(key, single[i]) == 0 && one(val) < 0)
            return hlx_fail(er, EINVAL, "%s wants one field (a bad escape or an unescaped space)", key);
    if (strcmp(key, "rootfs") == 0) {
        if (!abs_path(val))
            return hlx_fail(er, EINVAL, "rootfs must be an absolute path");
        return set_str(&spec->rootfs, val);
    }
    if (strcmp(key, "hostname") == 0) {
        if (strlen(val) == 0 || strlen(val) > 63)
            return hlx_fail(er, EINVAL, "hostname must have 1 to 63 characters");
        return set_str(&spec->hostname, val);
    }
    if (strcmp(key, "cwd") == 0) {
        if (val[0] != '/')
            return hlx_fail(er, EINVAL, "cwd must be an absolute path");
        return set_str(&spec->cwd, val);
    }
    if (strcmp(key, "uidmap") == 0 || strcmp(key, "gidmap") == 0) {
        int uid = key[0] == 'u';
        struct hlx_idmap *m = uid ? spec->uidmap : spec->gidmap;
        int *cnt = uid ? &spec->n_uidmap : &spec->n_gidmap;
        if (*cnt >= HLX_MAX_IDMAPS)
            return hlx_fail(er, EINVAL, "too many %s lines (max %d)", key, HLX_MAX_IDMAPS);
        n = fields(val, f, 3, 3);
        if (n != 3 || parse_ulong(f[0], &m[*cnt].inside) || parse_ulong(f[1], &m[*cnt].outside) ||
            parse_ulong(f[2], &m[*cnt].count) || m[*cnt].count == 0 ||
            m[*cnt].inside + m[*cnt].count - 1 > UINT_MAX - 1 ||
            m[*cnt].outside + m[*cnt].count - 1 > UINT_MAX - 1)
            return hlx_fail(er, EINVAL, "%s wants \"INSIDE OUTSIDE COUNT\"", key);
        (*cnt)++;
        return 0;
    }
    if (strcmp(key, "cgroup") == 0) {
        if (strncmp(val, "/sys/fs/cgroup/", 15) != 0 || !abs_path(val))
            return hlx_fail(er, EINVAL, "cgroup must be a path under /sys/fs/cgroup/");
        return hlx_strv_push(&spec->cgroups, val);
    }
    if (strcmp(key, "bind") == 0) {
        struct hlx_bind *b;
        n = fields(val, f, 2, 3);
        if (n < 2 || !abs_path(f[0]) || !abs_path(f[1]) ||
            (n == 3 && strcmp(f[2], "ro") != 0 && strcmp(f[2], "rw") != 0))
            return hlx_fail(er, EINVAL, "bind wants \"SOURCE DEST [ro|rw]\" with absolute paths");
        b = realloc(spec->binds, sizeof(*b) * (size_t)(spec->n_binds + 1));
        if (!b)
            return -1;
        spec->binds = b;
        b += spec->n_binds++;
        b->src = strdup(f[0]);
        b->dst = strdup(f[1]);
        b->ro = n == 3 && strcmp(f[2], "ro") == 0;
        return b->src && b->dst ? 0 : -1;
    }
    if (strcmp(key, "cgroupfs") == 0) {
        struct hlx_bind *b;
        n = fields(val, f, 2, 2);
        /* NAME is one path component: the hierarchy's directory under the container's /sys/fs/cgroup. */
        if (n != 2 || strncmp(f[0], "/sys/fs/cgroup/", 15) != 0 || !abs_path(f[0]) || !f[1][0] ||
            strchr(f[1], '/') || strcmp(f[1], "..") == 0 || (f[1][0] == '.' && f[1][1] && strcmp(f[1], ".") != 0))
            return hlx_fail(er, EINVAL, "cgroupfs wants \"HOSTDIR NAME\": a directory under /sys/fs/cgroup/ and a name (or .)");
        b = realloc(spec->cgroupfs, sizeof(*b) * (size_t)(spec->n_cgroupfs + 1));
        if (!b)
            return -1;
        spec->cgroupfs = b;
        b += spec->n_cgroupfs++;
        b->src = strdup(f[0]);
        b->dst = strdup(f[1]);
        b->ro = 0;
        return b->src && b->dst ? 0 : -1;
    }
    if (strcmp(key, "rlimit") == 0) {
        struct hlx_rlimit *r, lim;
        n = fields(val, f, 3, 3);
        if (n != 3 || (lim.resource = hlx_rlimit_number(f[0])) < 0 ||
            parse_limit(f[1], &lim.lim.rlim_cur) || parse_limit(f[2], &lim.lim.rlim_max) ||
            lim.lim.rlim_cur > lim.lim.rlim_max)
            return hlx_fail(er, EINVAL, "rlimit wants \"NAME SOFT HARD\" (soft <= hard)");
        r = realloc(spec->rlimits, sizeof(*r) * (size_t)(spec->n_rlimits + 1));
        if (!r)
            return -1;
        spec->rlimits = r;
        r[spec->n_rlimits++] = lim;
        return 0;
    }
    if (strcmp(key, "cap-drop") == 0) {
        int c = hlx_cap_number(val);
        if (c < 0)
            return hlx_fail(er, EINVAL, "unknown capability \"%s\"", val);
        spec->cap_drop |= 1ULL << c;
        return 0;
    }
    if (strcmp(key, "seccomp") == 0) {
        if (strcmp(val, "default") == 0)
            return hlx_spec_seccomp_defaults(spec);
        return hlx_fail(er, EINVAL, "seccomp wants \"default\"");
    }
    if (strcmp(key, "seccomp-deny") == 0) {
        int e;
        n = fields(val, f, 2, 2);
        if (n != 2 || (e = hlx_errno_number(f[1])) < 0 || f[0][0] == '\0')
            return hlx_fail(er, EINVAL, "seccomp-deny wants \"SYSCALL ERRNO\"");
        return add_seccomp(spec, f[0], e);
    }
    if (strcmp(key, "env") == 0) {
        if (!strchr(val, '=') || val[0] == '=')
            return hlx_fail(er, EINVAL, "env wants \"KEY=VALUE\"");
        return hlx_strv_push(&spec->env, val);
    }
    if (strcmp(key, "arg") == 0)
        return hlx_strv_push(&spec->argv, val);
    if (strcmp(key, "netns") == 0) {
        if (strcmp(val, "new") != 0 && strcmp(val, "host") != 0)
            return hlx_fail(er, EINVAL, "netns wants \"new\" or \"host\"");
        spec->host_netns = strcmp(val, "host") == 0;
        return 0;
    }
    if (strcmp(key, "nesting") == 0) {
        if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
            return hlx_fail(er, EINVAL, "nesting wants \"yes\" or \"no\"");
        spec->nesting = strcmp(val, "yes") == 0;
        return 0;
    }
    if (strcmp(key, "device-allow") == 0) {
        struct hlx_dev_rule r, *d;
        if (hlx_dev_rule_parse(val, &r) < 0)
            return hlx_fail(er, EINVAL, "device-allow wants \"a\" or \"TYPE MAJOR:MINOR ACCESS\" (e.g. \"c 1:3 rwm\")");
        if (spec->n_devices >= HLX_MAX_DEV_RULES)
            return hlx_fail(er, EINVAL, "too many device-allow lines (max %d)", HLX_MAX_DEV_RULES);
        if (!(d = realloc(spec->devices, sizeof(*d) * (size_t)(spec->n_devices + 1))))
            return -1;
        spec->devices = d;
        d[spec->n_devices++] = r;
        return 0;
    }
    if (strcmp(key, "nic") == 0) {
        struct hlx_nic c = {0};
        char *end;
        unsigned long mtu;
        n = fields(val, f, 5, 5);
        if (n != 5 || !hlx_valid_ifname(f[0]) || !hlx_valid_ifname(f[1]) || (strcmp(f[4], "-") != 0 && !hlx_valid_ifname(f[4])))
            return hlx_fail(er, EINVAL, "nic wants \"HOST NAME HWADDR MTU BRIDGE\": interface names of 1-15 bytes (no '/', ':' or "
                                        "space), a MAC address or \"-\", an MTU (0: default), a bridge or \"-\"");
        if (strcmp(f[2], "-") != 0) {
            if (!hlx_parse_mac(f[2], c.hwaddr))
                return hlx_fail(er, EINVAL, "nic %s: \"%s\" is not a MAC address", f[1], f[2]);
            c.has_hwaddr = 1;
        }
        errno = 0;
        mtu = strtoul(f[3], &end, 10);
        if (errno || *end || end == f[3] || mtu > 65535 || (mtu != 0 && mtu < 68))
            return hlx_fail(er, EINVAL, "nic %s: \"%s\" is not an MTU (0, or 68-65535)", f[1], f[3]);
        c.mtu = (unsigned)mtu;
        if (spec->n_nics >= HLX_MAX_NICS)
            return hlx_fail(er, EINVAL, "too many nic lines (max %d)", HLX_MAX_NICS);
        for (int i = 0; i < spec->n_nics; i++)
            if (strcmp(spec->nics[i].name, f[1]) == 0 || strcmp(spec->nics[i].host, f[0]) == 0)
                return hlx_fail(er, EINVAL, "nic %s %s repeats a host end or a name", f[0], f[1]);
        strcpy(c.host, f[0]);
        strcpy(c.name, f[1]);
        if (strcmp(f[4], "-") != 0)
            strcpy(c.bridge, f[4]);
        spec->nics[spec->n_nics++] = c;
        return 0;
    }
    if (strcmp(key, "rootfs-idmap") == 0) {
        if (strcmp(val, "yes") != 0 && strcmp(val, "no") != 0)
            return hlx_fail(er, EINVAL, "rootfs-idmap wants \"yes\" or \"no\"");
        spec->rootfs_idmap = strcmp(val, "yes") == 0;
        return 0;
    }
    return hlx_fail(er, EINVAL, "unknown key \"%s\"", key);
}

int hlx_spec_parse(FILE *f, const char *name, struct hlx_spec *spec, struct hlx_err *er)
{
    char *line = NULL, *val;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;

    memset(spec, 0, sizeof(*spec));
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        for (ssize_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)line[i];
            if (c < 0x20 || c == 0x7f) {
                hlx_fail(er, EINVAL, "%s: line %d: raw control character 0x%02x (fields escape it as \\x%02x)", name,
                         lineno, c, c);
                goto fail;
            }
        }
        val = strchr(line, ' ');
        if (!val) {
            hlx_fail(er, EINVAL, "%s: line %d: \"%s\" has no value", name, lineno, line);
            goto fail;
        }
        *val++ = '\0';
        errno = 0;
        if (parse_line(spec, line, val, er) < 0) {
            char msg[HLX_ERR_MAX + 300];
            if (errno == ENOMEM || errno == 0)
                hlx_fail(er, ENOMEM, "out of memory");
            snprintf(msg, sizeof(msg), "%.200s: line %d: %s", name, lineno, er->msg);
            msg[sizeof(er->msg) - 1] = '\0';
            memcpy(er->msg, msg, sizeof(er->msg));
            goto fail;
        }
    }
    if (ferror(f)) {
        hlx_fail(er, errno, "%s: read error: %s", name, strerror(errno));
        goto fail;
    }
    free(line);
    line = NULL;
    if (!spec->rootfs) {
        hlx_fail(er, EINVAL, "%s: rootfs is missing", name);
        goto fail;
    }
    if ((spec->n_uidmap == 0) != (spec->n_gidmap == 0)) {
        hlx_fail(er, EINVAL, "%s: uidmap and gidmap go together", name);
        goto fail;
    }
    if ((spec->n_uidmap && (hlx_idmap_outside(spec->uidmap, spec->n_uidmap, 0) < 0 ||
                            hlx_idmap_outside(spec->gidmap, spec->n_gidmap, 0) < 0))) {
        hlx_fail(er, EINVAL, "%s: the id maps must map root (0) inside the container", name);
        goto fail;
    }
    if (spec->n_nics && spec->host_netns) {
        hlx_fail(er, EINVAL, "%s: nic needs \"netns new\"", name);
        goto fail;
    }
    if (spec->rootfs_idmap && !spec->n_uidmap) {
        hlx_fail(er, EINVAL, "%s: rootfs-idmap needs uidmap and gidmap", name);
        goto fail;
    }
    if ((!spec->cwd && set_str(&spec->cwd, "/") < 0) ||
        (spec->argv.n == 0 && hlx_strv_push(&spec->argv, "/sbin/init") < 0)) {
        hlx_fail(er, ENOMEM, "out of memory");
        goto fail;
    }
    return 0;
fail:
    free(line);
    hlx_spec_free(spec);
    return -1;
}

int hlx_spec_load(const char *path, struct hlx_spec *spec, struct hlx_err *er)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    int rc;
    if (!f) {
        memset(spec, 0, sizeof(*spec));
        return hlx_fail(er, errno, "Failed opening spec %s: %s", path, strerror(errno));
    }
    rc = hlx_spec_parse(f, path, spec, er);
    if (f != stdin)
        fclose(f);
    return rc;
}
