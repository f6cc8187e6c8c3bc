using Hyperlxd.Containers;
using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Tests.Containers;

/// <summary>
/// The container driver with the cgroup2 backend forced. On these hybrid hosts that is the unified
/// hierarchy at /sys/fs/cgroup/unified without resource controllers: membership, freeze, kill, process
/// count and CPU time work; limits are refused naming the missing controller. Each test has its own
/// cgroup parent (<see cref="TestContainer.CgroupParent"/>), removed even when the test fails.
/// </summary>
[Collection("containers")]
public sealed class CgroupV2DriverTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static ExecOptions Exec(params string[] cmd) => new(cmd, new Dictionary<string, string>(), false, 0, 0, 0, 0, "/");

    /// <summary>The cgroup2 hierarchy: /sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup on a pure v2 one.</summary>
    private static string Unified => File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";

    private static string Group(TestContainer c) => Path.Combine(Unified, c.CgroupParent, c.Name);

    private static List<int> Procs(string group) =>
        File.ReadAllLines(Path.Combine(group, "cgroup.procs")).Where(l => l.Length > 0).Select(int.Parse).ToList();

    /// <summary>
    /// The group's tasks the state counts: all but a prepared exec helper still waiting for its command
    /// (the helper and its forked child, both still the deferred helper: the child has not exec'd a command).
    /// </summary>
    private static int Counted(string group) => Procs(group).Count(p => !IsWaitingHelper(p));

    private static bool IsWaitingHelper(int pid) =>
        Cmdline(pid).Contains("--deferred")
        && ReadOrEmpty($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).All(c => IsWaitingHelper(int.Parse(c)));

    private static string ReadOrEmpty(string file)
    {
        try
        {
            return File.ReadAllText(file);
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string Events(string group) => File.ReadAllText(Path.Combine(group, "cgroup.events"));

    private static string Cmdline(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>
    /// The state's process count and the group's, read back to back until they agree: init's sysinit
    /// children and the next prepared exec helper (started just after an exec ends) come and go.
    /// </summary>
    private static async Task<(int State, int Group)> SettledCountsAsync(TestContainer c, string group)
    {
        var counts = (State: 0, Group: -1);
        for (var i = 0; i < 100 && counts.State != counts.Group; i++)
        {
            if (i > 0)
            {
                await Task.Delay(50);
            }
            counts = ((await c.Driver.GetStateAsync(c.Spec, None)).Processes, Counted(group));
        }
        return counts;
    }

    /// <summary>What is still in a group (for a failure message).</summary>
    private static string Describe(string group)
    {
        try
        {
            return string.Join(", ", Directory.EnumerateFiles(group, "cgroup.procs", SearchOption.AllDirectories)
                .SelectMany(f => File.ReadLines(f).Select(p => $"{p} ({Cmdline(int.Parse(p))})"))) + " | " + Events(group).ReplaceLineEndings(" ");
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }

    /// <summary>Polls a condition the kernel or a helper reaches asynchronously (a hang guard, not a timing check).</summary>
    private static async Task<bool> EventuallyAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500; i++)
        {
            if (condition())
            {
                return true;
            }
            await Task.Delay(20);
        }
        return condition();
    }

    [Fact]
    public async Task Whole_lifecycle_runs_in_a_cgroup2_group()
    {
        await using var c = await TestContainer.CreateAsync(backend: CgroupBackendKind.V2);
        Assert.Equal("cgroup2", c.Driver.Cgroups.Name);
        var group = Group(c);

        // Started inside its own group (cloned into it), and not in any v1 group of ours.
        var state = await c.Driver.GetStateAsync(c.Spec, None);
        Assert.Equal(InstanceStatus.Running, state.Status);
        Assert.Contains(state.Pid, Procs(group));
        Assert.Contains($"0::/{c.CgroupParent}/{c.Name}\n", await File.ReadAllTextAsync($"/proc/{state.Pid}/cgroup"));
        Assert.False(Directory.Exists(Path.Combine("/sys/fs/cgroup/memory", c.CgroupParent)));
        var counts = await SettledCountsAsync(c, group);
        Assert.True(counts.State == counts.Group, $"state counts {counts.State}, the group {counts.Group}: {Describe(group)}");
        Assert.Contains(c.Name, c.Driver.Cgroups.List());

        // CPU time from cpu.stat usage_usec (there without the cpu controller).
        Assert.Equal(0, (await c.ExecAsync("sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done")).Code);
        Assert.True((await c.Driver.GetStateAsync(c.Spec, None)).CpuNanoseconds > 0);

        // An exec'd command lands in the container's group and is counted.
        await using var sleeper = await c.Driver.ExecAsync(c.Spec, Exec("sleep", "4242"), None);
        sleeper.Stdin!.Close();
        Assert.True(await EventuallyAsync(() => Procs(group).Any(p => Cmdline(p) == "sleep 4242")), "the exec'd sleep never showed up in " + group);
        var running = await SettledCountsAsync(c, group);
        Assert.True(running.State == running.Group, $"state counts {running.State}, the group {running.Group}: {Describe(group)}");
        Assert.True(running.State >= 2);

        // Freeze and thaw through cgroup.freeze, observed in cgroup.events.
        await c.Driver.FreezeAsync(c.Spec, None);
        Assert.Contains("frozen 1", Events(group));
        Assert.Equal("1", (await File.ReadAllTextAsync(Path.Combine(group, "cgroup.freeze"))).Trim());
        Assert.Equal(InstanceStatus.Frozen, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
        await Assert.ThrowsAsync<BadRequestException>(() => c.ExecAsync("true"));
        await c.Driver.UnfreezeAsync(c.Spec, None);
        Assert.Contains("frozen 0", Events(group));
        Assert.Equal(InstanceStatus.Running, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
        Assert.Equal(0, (await c.ExecAsync("true")).Code);

        // Force stop of a frozen container with an exec running: cgroup.kill ends them all; the group goes.
        await c.Driver.FreezeAsync(c.Spec, None);
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        var stopped = await c.Driver.GetStateAsync(c.Spec, None);
        Assert.Equal(InstanceStatus.Stopped, stopped.Status);
        Assert.Equal(("killed", 9), (stopped.LastExit?.Reason, stopped.LastExit?.Signal));
        Assert.NotEqual(0, await sleeper.WaitAsync(None));
        Assert.False(Directory.Exists(group));
        Assert.DoesNotContain(c.Name, c.Driver.Cgroups.List());
        Assert.False(Directory.Exists($"/proc/{state.Pid}"));
    }

    [Fact]
    public async Task A_restarted_daemon_reattaches_and_a_graceful_stop_removes_the_group()
    {
        await using var c = await TestContainer.CreateAsync(backend: CgroupBackendKind.V2);
        var group = Group(c);
        var pid = await c.InitPidAsync();

        // A new driver with the same options (a restarted daemon) finds the container and its group.
        var again = c.NewDriver();
        await again.ReconcileAsync(new[] { c.Spec }, None);
        var state = await again.GetStateAsync(c.Spec, None);
        Assert.Equal((InstanceStatus.Running, pid), (state.Status, state.Pid));
        Assert.Contains(pid, Procs(group));
        await using (var s = await again.ExecAsync(c.Spec, Exec("sh", "-c", "exit 4"), None))
        {
            s.Stdin!.Close();
            Assert.Equal(4, await s.WaitAsync(None));
        }
        await again.FreezeAsync(c.Spec, None);
        Assert.Contains("frozen 1", Events(group));
        Assert.Equal(InstanceStatus.Frozen, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
        await again.UnfreezeAsync(c.Spec, None);

        // A graceful stop (SIGPWR to busybox init) and the group is removed.
        await again.StopAsync(c.Spec, false, TimeSpan.FromSeconds(30), None);
        var stopped = await again.GetStateAsync(c.Spec, None);
        Assert.Equal(("halt", InstanceStatus.Stopped), (stopped.LastExit?.Reason, stopped.Status));
        Assert.False(Directory.Exists(group), "group left after a graceful stop: " + Describe(group));

        // Started again and forgotten by the daemon: reconcile kills it and removes the group.
        await c.Driver.StartAsync(c.Spec, None);
        Assert.True(Directory.Exists(group));
        await again.ReconcileAsync(Array.Empty<InstanceSpec>(), None);
        Assert.Equal(InstanceStatus.Stopped, (await again.GetStateAsync(c.Spec, None)).Status);
        Assert.False(Directory.Exists(group), "group left after reconcile: " + Describe(group));
    }

    /// <summary>Every limit key with its controller: refused (400, nothing applied) where the hierarchy lacks it.</summary>
    public static readonly (string Key, string Value, string Controller)[] Limits =
    {
        ("limits.memory", "64MiB", "memory"),
        ("limits.processes", "50", "pids"),
        ("limits.cpu", "1", "cpuset"),
        ("limits.cpu.allowance", "25ms/100ms", "cpu"),
        ("limits.cpu.priority", "5", "cpu"),
        ("limits.memory.swap", "false", "memory"),
    };

    [Fact]
    public async Task Limits_needing_a_missing_controller_are_refused_and_change_nothing()
    {
        var offered = CgroupDetector.Controllers(Unified);
        var missing = Limits.Where(l => !offered.Contains(l.Controller)).ToList();

        // At start: refused with the key and the controller; no group left, nothing running.
        await using var c = await TestContainer.CreateAsync(start: false, backend: CgroupBackendKind.V2);
        var group = Group(c);
        foreach (var (key, value, controller) in missing)
        {
            var spec = c.Spec with { Config = new Dictionary<string, string>(c.Spec.Config) { [key] = value } };
            var e = await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.StartAsync(spec, None));
            Assert.Equal($"Failed applying {key}: the {controller} cgroup controller is not available", e.Message);
            Assert.False(Directory.Exists(group));
            Assert.Equal(InstanceStatus.Stopped, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
        }

        await c.Driver.StartAsync(c.Spec, None);
        var parentControl = await File.ReadAllTextAsync(Path.Combine(Unified, c.CgroupParent, "cgroup.subtree_control"));
        var rootControl = await File.ReadAllTextAsync(Path.Combine(Unified, "cgroup.subtree_control"));
        var files = Directory.GetFiles(group).Order().ToList();

        // Live on the running container: the same 400, and the group, its parent and the root stay as they were.
        foreach (var (key, value, controller) in missing)
        {
            var changed = new Dictionary<string, string> { [key] = value, ["user.note"] = "x" };
            var spec = c.Spec with { Config = new Dictionary<string, string>(c.Spec.Config) { [key] = value, ["user.note"] = "x" } };
            var e = await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.ApplyConfigAsync(spec, changed, None));
            Assert.Equal($"Failed applying {key}: the {controller} cgroup controller is not available", e.Message);
        }
        Assert.Equal(files, Directory.GetFiles(group).Order().ToList());
        Assert.Equal(parentControl, await File.ReadAllTextAsync(Path.Combine(Unified, c.CgroupParent, "cgroup.subtree_control")));
        Assert.Equal(rootControl, await File.ReadAllTextAsync(Path.Combine(Unified, "cgroup.subtree_control")));
        Assert.Equal(InstanceStatus.Running, (await c.Driver.GetStateAsync(c.Spec, None)).Status);

        // Removing a limit (back to the default) and non-limit keys are always fine.
        await c.Driver.ApplyConfigAsync(c.Spec, new Dictionary<string, string> { ["limits.memory"] = "", ["user.x"] = "y" }, None);

        // On a stopped container the change is refused up front (it could never start with it).
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        foreach (var (key, value, controller) in missing)
        {
            var spec = c.Spec with { Config = new Dictionary<string, string>(c.Spec.Config) { [key] = value } };
            var e = await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.ApplyConfigAsync(spec, new Dictionary<string, string> { [key] = value }, None));
            Assert.Contains($"the {controller} cgroup controller is not available", e.Message);
        }
        Assert.False(Directory.Exists(group));
    }

    [Fact]
    public async Task A_controller_the_hierarchy_offers_is_enabled_down_through_the_parents()
    {
        // hugetlb is the one controller these hosts leave to cgroup2; no limit key uses it yet, so the
        // backend is asked directly. The root's subtree_control is put back as it was afterwards.
        var offered = CgroupDetector.Controllers(Unified);
        var controller = offered.Contains("hugetlb") ? "hugetlb" : offered.Order().FirstOrDefault();
        if (controller is null)
        {
            return; // nothing to enable on this host
        }
        var rootControl = Path.Combine(Unified, "cgroup.subtree_control");
        var wasEnabled = CgroupDetector.Words(rootControl).Contains(controller);
        var parent = "hyperlxd-t" + Guid.NewGuid().ToString("N")[..8];
        var backend = CgroupDetector.Select("/sys/fs/cgroup", parent, CgroupBackendKind.V2).Backend;
        var limits = CgroupLimits.From(new Dictionary<string, string>()) with { Needs = [new("limits.test", controller)] };
        try
        {
            backend.Create("c1", limits);
            Assert.Contains(controller, CgroupDetector.Controllers(Path.Combine(Unified, parent, "c1")));
            Assert.Contains(controller, CgroupDetector.Words(Path.Combine(Unified, parent, "cgroup.subtree_control")));
        }
        finally
        {
            Assert.True(await backend.RemoveAsync("c1", None));
            Directory.Delete(Path.Combine(Unified, parent));
            if (!wasEnabled)
            {
                await File.WriteAllTextAsync(rootControl, "-" + controller);
            }
        }
        Assert.Equal(wasEnabled, CgroupDetector.Words(rootControl).Contains(controller));
    }

    [Fact]
    public async Task The_device_allow_list_is_an_ebpf_program_on_the_group()
    {
        // Privileged, so that mknod works at all: "c *:* m" lets it make any node, the rest decides what opens.
        await using var c = await TestContainer.CreateAsync(new Dictionary<string, string> { ["security.privileged"] = "true" },
            backend: CgroupBackendKind.V2);
        Assert.Contains("device-allow c 1:3 rwm\n", await File.ReadAllTextAsync(Path.Combine(c.Spec.StateDir, "container.spec")));

        var allowed = await c.ExecAsync("sh", "-c", "busybox mknod /tmp/null c 1 3 && echo x > /tmp/null && head -c 3 /dev/zero | tr '\\0' z");
        Assert.Equal((0, "zzz"), (allowed.Code, allowed.Out));
        var denied = await c.ExecAsync("sh", "-c", "busybox mknod /tmp/kmsg c 1 11 && head -c 1 /tmp/kmsg");
        Assert.NotEqual(0, denied.Code);
        Assert.Contains("Operation not permitted", denied.Err);

        // The console and exec ptys are on the list: an interactive exec still gets its terminal.
        await using var s = await c.Driver.ExecAsync(c.Spec, new ExecOptions(new[] { "sh" }, new Dictionary<string, string>(), true, 80, 24, 0, 0, "/"), None);
        var output = new MemoryStream();
        var reader = s.Pty!.CopyToAsync(output);
        await s.Pty.WriteAsync("test -t 0 && echo is-a-tty; exit 3\n"u8.ToArray());
        Assert.Equal(3, await s.WaitAsync(None));
        await reader;
        Assert.Contains("is-a-tty", System.Text.Encoding.UTF8.GetString(output.ToArray()));

        // An unprivileged container uses its bound host nodes as before.
        await using var u = await TestContainer.CreateAsync(backend: CgroupBackendKind.V2);
        var nodes = await u.ExecAsync("sh", "-c", "head -c 2 /dev/urandom > /dev/null && head -c 3 /dev/zero | tr '\\0' z");
        Assert.Equal((0, "zzz"), (nodes.Code, nodes.Out));
    }
}
