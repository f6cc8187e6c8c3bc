/* ctest: container spec parsing (valid, defaults, every error path) and the console ring buffer.
 * Also run under valgrind (spec_valgrind) to keep the parser leak-free on errors. */
#include "caps.h"
#include "ringbuf.h"
#include "spec.h"
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int parse(const char *text, struct hlx_spec *spec, struct hlx_err *er)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    int rc = hlx_spec_parse(f, "spec", spec, er);
    fclose(f);
    return rc;
}

static void test_full_spec(void)
{
    struct hlx_spec s;
    struct hlx_err er = {0};
    const char *text = "# comment\n\nrootfs /var/lib/c1/rootfs\nhostname c1\nuidmap 0 1000000 65536\n"
                       "gidmap 0 1000000 65536\ncgroup /sys/fs/cgroup/memory/hyperlxd/c1\n"
                       "cgroupfs /sys/fs/cgroup/memory/hyperlxd/c1 memory\ncgroupfs /sys/fs/cgroup/hyperlxd/c1 .\n"
                       "bind /srv/data /mnt/data ro\nrlimit nofile 1024 unlimited\ncap-drop sys_time\n"
                       "cap-drop CAP_SYS_MODULE\nseccomp default\nseccomp-deny mount EPERM\n"
                       "env container=lxc\narg /sbin/init\narg --log-level=debug\nnetns host\n"
                       "cwd /root\nrootfs-idmap yes\n"
                       "device-allow c *:* m\ndevice-allow b 8:16 rw\ndevice-allow a\n";
    CHECK(parse(text, &s, &er) == 0);
    CHECK(strcmp(s.rootfs, "/var/lib/c1/rootfs") == 0);
    CHECK(strcmp(s.hostname, "c1") == 0);
    CHECK(s.n_uidmap == 1 && s.uidmap[0].outside == 1000000 && s.uidmap[0].count == 65536);
    CHECK(hlx_idmap_outside(s.gidmap, s.n_gidmap, 5) == 1000005);
    CHECK(hlx_idmap_outside(s.gidmap, s.n_gidmap, 65536) == -1);
    CHECK(s.cgroups.n == 1);
    CHECK(s.n_cgroupfs == 2 && strcmp(s.cgroupfs[0].dst, "memory") == 0 && strcmp(s.cgroupfs[1].dst, ".") == 0);
    CHECK(s.n_binds == 1 && s.binds[0].ro && strcmp(s.binds[0].dst, "/mnt/data") == 0);
    CHECK(s.n_rlimits == 1 && s.rlimits[0].resource == RLIMIT_NOFILE &&
          s.rlimits[0].lim.rlim_max == RLIM_INFINITY);
    CHECK(s.cap_drop == ((1ULL << 25) | (1ULL << 16)));
    CHECK(s.n_seccomp == 11 && strcmp(s.seccomp[10].syscall, "mount") == 0);
    CHECK(s.env.n == 1 && s.argv.n == 2 && s.argv.v[2] == NULL);
    CHECK(s.host_netns == 1);
    CHECK(strcmp(s.cwd, "/root") == 0);
    CHECK(s.rootfs_idmap == 1);
    CHECK(s.n_devices == 3);
    CHECK(s.devices[0].type == 'c' && s.devices[0].major == -1 && s.devices[0].minor == -1 && s.devices[0].access == 1);
    CHECK(s.devices[1].type == 'b' && s.devices[1].major == 8 && s.devices[1].minor == 16 && s.devices[1].access == 6);
    CHECK(s.devices[2].type == 'a' && s.devices[2].major == -1 && s.devices[2].access == 7);
    hlx_spec_free(&s);
}

/* Fields are escaped (\\, \xHH): whatever a value holds, it stays one field of one line. */
static void test_escapes(void)
{
    struct hlx_spec s;
    struct hlx_err er = {0};
    const char *text = "rootfs /var/lib/my\\x20pool/c1/rootfs\n"
                       "env INJECT=a\\x0ahook-prestart\\x20touch\\x20/tmp/pwned\n"
                       "env QUOTED=a\\x20b=c\\x09\"q\"\\x27\\\\n\\\\\n"
                       "env UTF8=caf\xc3\xa9\\x7f\n"
                       "arg /bin/sh\narg -c\narg echo\\x20$INJECT\\x0aid\n"
                       "bind /srv/a\\x20b /mnt/a\\x5cb ro\n";
    char buf[] = "x\\x41\\\\y", bad1[] = "a\\x0", bad2[] = "a\\x00b", bad3[] = "a\\n", bad4[] = "a\\";
    CHECK(parse(text, &s, &er) == 0);
    CHECK(strcmp(s.rootfs, "/var/lib/my pool/c1/rootfs") == 0);
    CHECK(s.env.n == 3);
    CHECK(strcmp(s.env.v[0], "INJECT=a\nhook-prestart touch /tmp/pwned") == 0);
    CHECK(strcmp(s.env.v[1], "QUOTED=a b=c\t\"q\"'\\n\\") == 0);
    CHECK(strcmp(s.env.v[2], "UTF8=caf\xc3\xa9\x7f") == 0);
    CHECK(s.argv.n == 3 && strcmp(s.argv.v[2], "echo $INJECT\nid") == 0);
    CHECK(s.n_binds == 1 && strcmp(s.binds[0].src, "/srv/a b") == 0 && strcmp(s.binds[0].dst, "/mnt/a\\b") == 0 &&
          s.binds[0].ro);
    hlx_spec_free(&s);
    CHECK(hlx_spec_unescape(buf) == 0 && strcmp(buf, "xA\\y") == 0);
    CHECK(hlx_spec_unescape(bad1) == -1 && hlx_spec_unescape(bad2) == -1 && hlx_spec_unescape(bad3) == -1 &&
          hlx_spec_unescape(bad4) == -1);
}

static void test_defaults(void)
{
    struct hlx_spec s;
    struct hlx_err er = {0};
    CHECK(parse("rootfs /r\n", &s, &er) == 0);
    CHECK(strcmp(s.argv.v[0], "/sbin/init") == 0 && s.argv.n == 1);
    CHECK(strcmp(s.cwd, "/") == 0);
    CHECK(s.n_uidmap == 0 && !s.host_netns && s.n_seccomp == 0 && !s.rootfs_idmap);
    hlx_spec_free(&s);
}

/* "nic HOST NAME HWADDR MTU BRIDGE": repeatable, interface names as the kernel takes them. */
static void test_nics(void)
{
    struct hlx_spec s;
    struct hlx_err er = {0};
    char text[32 * 40 + 64], *w = text;
    CHECK(parse("rootfs /r\nnic veth1234567890a eth0 00:16:3E:0a:0b:0c 1400 lxdbr0\nnic vethb eth\\x2d1 - 0 -\n", &s, &er) == 0);
    CHECK(s.n_nics == 2);
    CHECK(strcmp(s.nics[0].host, "veth1234567890a") == 0 && strcmp(s.nics[0].name, "eth0") == 0);
    CHECK(s.nics[0].has_hwaddr && s.nics[0].hwaddr[0] == 0 && s.nics[0].hwaddr[2] == 0x3e && s.nics[0].hwaddr[5] == 0x0c);
    CHECK(s.nics[0].mtu == 1400 && strcmp(s.nics[0].bridge, "lxdbr0") == 0);
    CHECK(strcmp(s.nics[1].host, "vethb") == 0 && strcmp(s.nics[1].name, "eth-1") == 0);
    CHECK(!s.nics[1].has_hwaddr && s.nics[1].mtu == 0 && s.nics[1].bridge[0] == 0);
    hlx_spec_free(&s);
    CHECK(hlx_valid_ifname("eth0") && !hlx_valid_ifname("") && !hlx_valid_ifname("..") &&
          !hlx_valid_ifname("a\tb") && !hlx_valid_ifname("1234567890123456"));
    CHECK(parse("rootfs /r\nnic h e 00:16:3e:0a:0b nope -\n", &s, &er) == -1 && strstr(er.msg, "is not a MAC address"));
    CHECK(parse("rootfs /r\nnic h e - 70000 -\n", &s, &er) == -1 && strstr(er.msg, "is not an MTU"));
    CHECK(parse("rootfs /r\nnic h e - 0 a/b\n", &s, &er) == -1 && strstr(er.msg, "nic wants"));
    CHECK(parse("rootfs /r\nnic h e\n", &s, &er) == -1 && strstr(er.msg, "nic wants"));
    CHECK(parse("rootfs /r\nnic h e - 0 -\nnic h f - 0 -\n", &s, &er) == -1 && strstr(er.msg, "repeats"));
    w += sprintf(w, "rootfs /r\n");
    for (int i = 0; i < HLX_MAX_NICS; i++)
        w += sprintf(w, "nic p%d e%d - 0 -\n", i, i);
    CHECK(parse(text, &s, &er) == 0 && s.n_nics == HLX_MAX_NICS);
    hlx_spec_free(&s);
    sprintf(w, "nic p99 e99 - 0 -\n");
    CHECK(parse(text, &s, &er) == -1 && strstr(er.msg, "too many nic lines"));
}

static void test_errors(void)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"hostname x\n", "rootfs is missing"},
        {"rootfs relative\n", "line 1: rootfs must be an absolute path"},
        {"rootfs /r\nfoo bar\n", "line 2: unknown key \"foo\""},
        {"rootfs /r\nhostname\n", "line 2: \"hostname\" has no value"},
        {"rootfs /r\nuidmap 0 1000000\n", "line 2: uidmap wants"},
        {"rootfs /r\nuidmap 0 -1 5\n", "line 2: uidmap wants"},
        {"rootfs /r\nuidmap 0 1000000 65536\n", "uidmap and gidmap go together"},
        {"rootfs /r\nuidmap 1 1000000 65536\ngidmap 1 1000000 65536\n", "must map root"},
        {"rootfs /r\ncgroup /tmp/x\n", "line 2: cgroup must be a path under /sys/fs/cgroup/"},
        {"rootfs /r\ncgroup /sys/fs/cgroup/memory/../../x\n", "line 2: cgroup must be"},
        {"rootfs /r\nbind /a\n", "line 2: bind wants"},
        {"rootfs /r\ncgroupfs /sys/fs/cgroup/memory/x\n", "line 2: cgroupfs wants"},
        {"rootfs /r\ncgroupfs /tmp/x memory\n", "line 2: cgroupfs wants"},
        {"rootfs /r\ncgroupfs /sys/fs/cgroup/memory/x ../etc\n", "line 2: cgroupfs wants"},
        {"rootfs /r\ncgroupfs /sys/fs/cgroup/memory/x ..\n", "line 2: cgroupfs wants"},
        {"rootfs /r\nbind /a /b maybe\n", "line 2: bind wants"},
        {"rootfs /r\nrlimit nofile 10 5\n", "line 2: rlimit wants"},
        {"rootfs /r\nrlimit bogus 1 1\n", "line 2: rlimit wants"},
        {"rootfs /r\ncap-drop sys_nothing\n", "line 2: unknown capability \"sys_nothing\""},
        {"rootfs /r\nseccomp maybe\n", "line 2: seccomp wants"},
        {"rootfs /r\nseccomp-deny mount EWHAT\n", "line 2: seccomp-deny wants"},
        {"rootfs /r\nenv NOEQUALS\n", "line 2: env wants"},
        {"rootfs /r\nnetns other\n", "line 2: netns wants"},
        {"rootfs /r\nnic veth0\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 eth0 extra\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 1234567890123456\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 eth/0\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 eth:0\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 eth\\x200\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 eth\\x090\n", "line 2: nic wants"},
        {"rootfs /r\nnic .. eth0\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 .\n", "line 2: nic wants"},
        {"rootfs /r\nnic veth0 eth0 - 0 -\nnic veth1 eth0 - 0 -\n", "line 3: nic veth1 eth0 repeats"},
        {"rootfs /r\nnic veth0 eth0 - 0 -\nnetns host\n", "nic needs \"netns new\""},
        {"rootfs /r\nrootfs-idmap maybe\n", "line 2: rootfs-idmap wants"},
        {"rootfs /r\nrootfs-idmap yes\n", "rootfs-idmap needs uidmap and gidmap"},
        {"rootfs /r\ndevice-allow x 1:3 rwm\n", "line 2: device-allow wants"},
        {"rootfs /r\ndevice-allow c 1:3\n", "line 2: device-allow wants"},
        {"rootfs /r\ndevice-allow c 1:3 rwx\n", "line 2: device-allow wants"},
        {"rootfs /r\ndevice-allow c 1:3 rr\n", "line 2: device-allow wants"},
        {"rootfs /r\ndevice-allow c 4096:0 r\n", "line 2: device-allow wants"},
        {"rootfs /r\ndevice-allow c 1 r\n", "line 2: device-allow wants"},
        {"rootfs /r\ndevice-allow c :3 r\n", "line 2: device-allow wants"},
        /* No directive runs a host command; what looks like one inside a field stays data. */
        {"rootfs /r\nhook-prestart touch /tmp/pwned\n", "line 2: unknown key \"hook-prestart\""},
        {"rootfs /r\nenv A=a\nhook-prestart touch /tmp/pwned\n", "line 3: unknown key \"hook-prestart\""},
        {"rootfs /r\nenv A=a hook-prestart\n", "line 2: env wants one field"},
        {"rootfs /r\nenv A=a\rb\n", "line 2: raw control character 0x0d"},
        {"rootfs /r\nenv A=a\tb\n", "line 2: raw control character 0x09"},
        {"rootfs /r\nenv A=a\\x00b\n", "line 2: env wants one field"},
        {"rootfs /r\nenv A=a\\qb\n", "line 2: env wants one field"},
        {"rootfs /r\narg a\\x4\n", "line 2: arg wants one field"},
        {"rootfs /my\\x20r/..\\x2fetc\n", "line 1: rootfs must be an absolute path"},
        {"rootfs /r\nbind /a /b ro extra\n", "line 2: bind wants"},
        {"rootfs /r\nbind /a\\x20/../b /c\n", "line 2: bind wants"},
        {"rootfs /r\nuidmap 0 1000000 65536 7\n", "line 2: uidmap wants"},
        {"rootfs /r\nenv A=1\narg x\nbind /a /b\nhostname averyveryveryveryveryveryveryveryveryveryveryveryveryveryverylongname\n",
         "line 5: hostname must have"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hlx_spec s;
        struct hlx_err er = {0};
        int rc = parse(bad[i].text, &s, &er);
        CHECK(rc == -1);
        CHECK(er.err == EINVAL);
        if (!strstr(er.msg, bad[i].msg)) {
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, er.msg, bad[i].msg);
            failures++;
        }
        CHECK(s.rootfs == NULL && s.env.v == NULL); /* freed and zeroed */
    }
}

static void test_ring(void)
{
    struct hlx_ring r;
    char out[16];
    CHECK(hlx_ring_init(&r, 8) == 0);
    hlx_ring_write(&r, "abc", 3);
    CHECK(hlx_ring_copy(&r, out) == 3 && memcmp(out, "abc", 3) == 0);
    hlx_ring_write(&r, "defghij", 7); /* wraps: keeps the last 8 */
    CHECK(hlx_ring_copy(&r, out) == 8 && memcmp(out, "cdefghij", 8) == 0);
    hlx_ring_write(&r, "0123456789AB", 12); /* longer than the ring */
    CHECK(hlx_ring_copy(&r, out) == 8 && memcmp(out, "456789AB", 8) == 0);
    hlx_ring_free(&r);
}

int main(void)
{
    test_full_spec();
    test_escapes();
    test_defaults();
    test_nics();
    test_errors();
    test_ring();
    CHECK(hlx_cap_number("CAP_MAC_ADMIN") == 33 && hlx_cap_number("nope") == -1);
    CHECK(hlx_signal_number("SIGPWR") == 30 && hlx_signal_number("RTMIN+3") == SIGRTMIN + 3 &&
          hlx_signal_number("9") == 9 && hlx_signal_number("SIGNOPE") == -1);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    puts("spec: all checks passed");
    return 0;
}
