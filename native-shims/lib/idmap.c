#include "idmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int write_map(pid_t pid, const char *file, const struct hlx_idmap *m, int n,
                     struct hlx_err *er)
{
    char path[64], buf[HLX_MAX_IDMAPS * 40];
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%lu %lu %lu\n", m[i].inside,
                                m[i].outside, m[i].count);
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    if (hlx_write_file(path, buf) < 0)
        return hlx_fail(er, errno, "Failed writing %s: %s", file, strerror(errno));
    return 0;
}

int hlx_idmap_write(pid_t pid, const struct hlx_spec *spec, struct hlx_err *er)
{
    if (write_map(pid, "uid_map", spec->uidmap, spec->n_uidmap, er) < 0)
        return -1;
    return write_map(pid, "gid_map", spec->gidmap, spec->n_gidmap, er);
}
