#include "cgroups.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup/"

/* v1 cpuset starts empty at each new level and refuses tasks until filled. */
static int fill_cpuset(const char *dir, struct hlx_err *er)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    char path[4200], parent[4096], val[1024];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (hlx_read_file(path, val, sizeof(val)) < 0)
            return hlx_fail(er, errno, "Failed reading %s: %s", path, strerror(errno));
        if (val[0] != '\n' && val[0] != '\0')
            continue;
        snprintf(parent, sizeof(parent), "%s", dir);
        *strrchr(parent, '/') = '\0';
        snprintf(path, sizeof(path), "%s/%s", parent, files[i]);
        if (hlx_read_file(path, val, sizeof(val)) < 0)
            return hlx_fail(er, errno, "Failed reading %s: %s", path, strerror(errno));
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (hlx_write_file(path, val) < 0)
            return hlx_fail(er, errno, "Failed writing %s: %s", path, strerror(errno));
    }
    return 0;
}

/* mkdir of every missing level below the controller's mount point. */
static int make_cgroup(const char *dir, struct hlx_err *er)
{
    char tmp[4096];
    size_t len = strlen(dir);
    int cpuset = strncmp(dir, CG_ROOT "cpuset/", sizeof(CG_ROOT "cpuset/") - 1) == 0;
    char *p;

    if (len >= sizeof(tmp))
        return hlx_fail(er, ENAMETOOLONG, "cgroup path too long: %s", dir);
    memcpy(tmp, dir, len + 1);
    /* Skip /sys/fs/cgroup/<controller>: it exists or the controller is not mounted. */
    p = strchr(tmp + sizeof(CG_ROOT) - 1, '/');
    while (p) {
        char *next = strchr(p + 1, '/');
        if (next)
            *next = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return hlx_fail(er, errno, "Failed creating cgroup %s: %s", tmp, strerror(errno));
        if (cpuset && fill_cpuset(tmp, er) < 0)
            return -1;
        if (next)
            *next = '/';
        p = next;
    }
    return 0;
}

static int move_pid(const char *dir, pid_t pid, struct hlx_err *er)
{
    char path[4200], val[16];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    snprintf(val, sizeof(val), "%d", (int)pid);
    if (hlx_write_file(path, val) < 0)
        return hlx_fail(er, errno, "Failed joining cgroup %s: %s", dir, strerror(errno));
    return 0;
}

static int is_cgroup2(const char *dir)
{
    struct statfs fs;
    return statfs(dir, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

int hlx_cgroups_prepare(const struct hlx_spec *spec, struct hlx_err *er)
{
    int fd = -1;
    for (int i = 0; i < spec->cgroups.n; i++) {
        const char *dir = spec->cgroups.v[i];
        if (make_cgroup(dir, er) < 0)
            goto fail;
        if (fd < 0 && is_cgroup2(dir) && (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            hlx_fail(er, errno, "Failed opening cgroup %s: %s", dir, strerror(errno));
            goto fail;
        }
    }
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return -2;
}

int hlx_cgroups_join(const struct hlx_spec *spec, pid_t pid, int skip_cgroup2, struct hlx_err *er)
{
    int skipped = 0;
    for (int i = 0; i < spec->cgroups.n; i++) {
        const char *dir = spec->cgroups.v[i];
        if (skip_cgroup2 && !skipped && is_cgroup2(dir)) {
            skipped = 1; /* the one clone3 placed pid in (the first cgroup2 dir, as in prepare) */
            continue;
        }
        if (move_pid(dir, pid, er) < 0)
            return -1;
    }
    return 0;
}

/* Whether a cgroup of that hierarchy carries the memory controller: a v1 list naming it, or a
 * cgroup2 directory whose cgroup.controllers has it. */
static int has_memory(const char *ctrl, const char *dir)
{
    char list[512], path[4200], *tok, *save = NULL;
    if (*ctrl == '\0') {
        snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
        if (hlx_read_file(path, list, sizeof(list)) < 0)
            return 0;
    } else
        snprintf(list, sizeof(list), "%s", ctrl);
    for (tok = strtok_r(list, ", \n", &save); tok; tok = strtok_r(NULL, ", \n", &save))
        if (strcmp(tok, "memory") == 0)
            return 1;
    return 0;
}

int hlx_cgroups_attach_self(pid_t pid, int *memfds, int max_memfds, struct hlx_err *er)
{
    char path[64], dir[4096];
    char *buf = malloc(8192), *line, *save = NULL;
    struct stat st;
    int rc = 0, n = 0;

    if (!buf)
        return hlx_fail(er, ENOMEM, "out of memory");
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    if (hlx_read_file(path, buf, 8192) < 0) {
        rc = hlx_fail(er, errno, "Failed reading %s: %s", path, strerror(errno));
        goto out;
    }
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* "4:memory:/hyperlxd/c1", "1:name=systemd:/x", "0::/hyperlxd/c1" */
        char *ctrl = strchr(line, ':'), *cg;
        if (!ctrl || !(cg = strchr(++ctrl, ':')))
            continue;
        *cg++ = '\0';
        if (strcmp(cg, "/") == 0)
            continue;
        if (*ctrl == '\0')
            snprintf(dir, sizeof(dir), "%s%s%s", CG_ROOT,
                     stat(CG_ROOT "unified", &st) == 0 ? "unified" : "", cg);
        else
            snprintf(dir, sizeof(dir), "%s%s%s", CG_ROOT,
                     strncmp(ctrl, "name=", 5) == 0 ? ctrl + 5 : ctrl, cg);
        if (stat(dir, &st) < 0)
            continue; /* hierarchy not mounted where we look: nothing to join */
        if (memfds && has_memory(ctrl, dir)) {
            /* Opened now (host path, host credentials), written by the command's process later. */
            char procs[4200];
            snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
            if (n == max_memfds || (memfds[n] = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
                rc = hlx_fail(er, n == max_memfds ? E2BIG : errno, "Failed opening %s: %s", procs,
                              strerror(n == max_memfds ? E2BIG : errno));
                goto out;
            }
            n++;
            continue;
        }
        if ((rc = move_pid(dir, getpid(), er)) < 0)
            goto out;
    }
    rc = n;
out:
    if (rc < 0)
        while (n > 0)
            close(memfds[--n]);
    free(buf);
    return rc;
}

int hlx_cgroups_join_fds(int *fds, int n, struct hlx_err *er)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && write(fds[i], "0", 1) != 1)
            rc = hlx_fail(er, errno, "Failed joining the container's memory cgroup: %s", strerror(errno));
        close(fds[i]);
    }
    return rc;
}
