using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// A container's /sys/fs/cgroup: its own groups only (cgroup namespace root), delegated to its root so
/// an init inside can make sub-groups, with the group's own limits out of its reach; everything it
/// made is gone after delete.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcCgroupViewTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    [Theory]
    [InlineData("cg-unpriv", false)]
    [InlineData("cg-priv", true)]
    public async Task Own_groups_are_visible_and_delegated_limits_stay_out_of_reach_and_delete_removes_subgroups(string name, bool privileged)
    {
        string hostPidsGroup;
        await using (var c = await fixture.LaunchAsync(name, privileged ? new[] { "-c", "security.privileged=true" } : Array.Empty<string>()))
        {
            var pid = await fixture.InitPidAsync(c.Name);
            hostPidsGroup = "/sys/fs/cgroup/pids" + File.ReadLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).First(f => f[1] == "pids")[2];
            Assert.EndsWith("/" + name, hostPidsGroup);

            var ls = await fixture.LxcOkAsync("exec", c.Name, "--", "ls", "/sys/fs/cgroup");
            foreach (var controller in new[] { "cpu", "cpuset", "memory", "pids", "devices", "freezer" })
            {
                Assert.Contains(controller, ls.Split('\n', StringSplitOptions.TrimEntries));
            }
            // The container's groups are its cgroup namespace root: /proc/self/cgroup says "/".
            var own = await fixture.LxcOkAsync("exec", c.Name, "--", "grep", ":pids:", "/proc/self/cgroup");
            Assert.EndsWith(":pids:/", own.Trim());

            // Delegated: root inside makes a sub-group and moves a task into it.
            var sub = await fixture.LxcOkAsync("exec", c.Name, "--", "sh", "-c",
                "mkdir /sys/fs/cgroup/pids/sub && echo $$ > /sys/fs/cgroup/pids/sub/cgroup.procs && grep :pids: /proc/self/cgroup");
            Assert.EndsWith(":pids:/sub", sub.Trim());
            Assert.True(Directory.Exists(Path.Combine(hostPidsGroup, "sub")), "the sub-group is a real host cgroup");

            // Its own limits are the host's (an unprivileged root cannot write them; a privileged one is
            // host root, as in LXD), and the tmpfs holding the hierarchies is read-only.
            if (!privileged)
            {
                var limit = await D.LxcAsync("exec", c.Name, "--", "sh", "-c", "echo 1 > /sys/fs/cgroup/pids/pids.max");
                Assert.NotEqual(0, limit.ExitCode);
                Assert.Equal("max", File.ReadAllText(Path.Combine(hostPidsGroup, "pids.max")).Trim());
            }
            var tmpfs = await D.LxcAsync("exec", c.Name, "--", "mkdir", "/sys/fs/cgroup/extra");
            Assert.NotEqual(0, tmpfs.ExitCode);
        }
        Assert.False(Directory.Exists(hostPidsGroup), $"{hostPidsGroup} left behind");
    }
}
