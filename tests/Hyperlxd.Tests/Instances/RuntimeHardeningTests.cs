using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// Issue 9, findings 13, 14, 15 and 18: the exec helper and the OOM killer, descriptors and files
/// left behind, reboot inside a container, LXD's exec failures and stopping frozen containers.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class RuntimeHardeningTests(ContainerDaemon fixture, ITestOutputHelper output)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private async Task<JsonElement> StateAsync(string name) => (await D.Api.GetAsync($"/1.0/instances/{name}/state")).Metadata;

    /// <summary>Polls (bounded) until <paramref name="done"/> holds; false when it never did.</summary>
    private static async Task<bool> EventuallyAsync(Func<Task<bool>> done, int seconds = 60)
    {
        for (var i = 0; i < seconds * 10; i++)
        {
            if (await done())
            {
                return true;
            }
            await Task.Delay(100);
        }
        return false;
    }

    // ---- 18: exec failures as LXD reports them --------------------------------------------------

    [Fact]
    public async Task Exec_of_a_missing_or_unexecutable_command_fails_its_operation_as_LXD_does()
    {
        await using var c = await fixture.LaunchAsync("rt-notfound");
        foreach (var (command, err, code) in new[] { ("nonexistent", "Command not found", 127), ("/etc/passwd", "Command not executable", 126) })
        {
            var body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["command"] = new[] { command },
                ["wait-for-websocket"] = false,
                ["interactive"] = false,
            });
            var r = await D.Api.PostAsync($"/1.0/instances/{c.Name}/exec", body);
            Assert.Equal(HttpStatusCode.Accepted, r.Status);
            var op = (await D.Api.GetAsync(r.Body.GetProperty("operation").GetString() + "/wait?timeout=60")).Metadata;
            Assert.Equal("Failure", op.GetProperty("status").GetString());
            Assert.Equal(err, op.GetProperty("err").GetString());
            Assert.Equal(code, op.GetProperty("metadata").GetProperty("return").GetInt32());

            // lxc 5.0.2 prints the operation's error and exits with metadata.return.
            var lxc = await D.LxcAsync("exec", c.Name, "--", command);
            Assert.Equal(code, lxc.ExitCode);
            Assert.Contains("Error: " + err, lxc.Stderr);
        }
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);
    }

    [Fact]
    public async Task Six_frozen_containers_stopped_at_once_all_end_stopped()
    {
        var names = Enumerable.Range(0, 6).Select(i => $"rt-frozen{i}").ToArray();
        var launched = new List<LaunchedContainer>();
        try
        {
            foreach (var n in names)
            {
                launched.Add(await fixture.LaunchAsync(n));
                await LxcOkAsync("pause", n);
                Assert.Equal("Frozen", (await StateAsync(n)).GetProperty("status").GetString());
            }
            var clock = Stopwatch.StartNew();
            var stops = await Task.WhenAll(names.Select(n => D.LxcAsync("stop", n)));
            clock.Stop();
            output.WriteLine($"6 frozen containers stopped concurrently in {clock.Elapsed.TotalSeconds:F2} s");
            foreach (var (n, r) in names.Zip(stops))
            {
                Assert.True(r.ExitCode == 0, $"lxc stop {n}: {r}");
                Assert.Equal("Stopped", (await StateAsync(n)).GetProperty("status").GetString());
            }
        }
        finally
        {
            foreach (var c in launched)
            {
                await c.DisposeAsync();
            }
        }
    }

    // ---- 15: reboot and poweroff inside --------------------------------------------------------

    [Fact]
    public async Task Reboot_inside_restarts_the_container_and_poweroff_stops_it()
    {
        await using var c = await fixture.LaunchAsync("rt-reboot");
        var pid = (await StateAsync(c.Name)).GetProperty("pid").GetInt32();
        await D.LxcAsync("exec", c.Name, "--", "reboot", "-f"); // its own exit status dies with the container

        var newPid = 0;
        Assert.True(await EventuallyAsync(async () =>
        {
            var s = await StateAsync(c.Name);
            newPid = s.GetProperty("pid").GetInt32();
            return s.GetProperty("status").GetString() == "Running" && newPid > 0 && newPid != pid;
        }), "the container runs again with a new init after reboot -f");
        Assert.False(Directory.Exists($"/proc/{pid}"), "the old init is gone");
        Assert.Equal("ok", (await LxcOkAsync("exec", c.Name, "--", "echo", "ok")).Trim());
        var config = (await D.Api.GetAsync("/1.0/instances/" + c.Name)).Metadata.GetProperty("config");
        Assert.Equal("RUNNING", config.GetProperty("volatile.last_state.power").GetString());

        await D.LxcAsync("exec", c.Name, "--", "poweroff", "-f");
        Assert.True(await EventuallyAsync(async () => (await StateAsync(c.Name)).GetProperty("status").GetString() == "Stopped"),
            "poweroff -f stops the container");
        Assert.True(await EventuallyAsync(async () =>
            (await D.Api.GetAsync("/1.0/instances/" + c.Name)).Metadata.GetProperty("config").GetProperty("volatile.last_state.power").GetString() == "STOPPED"),
            "the daemon records the stop");
        Assert.Equal("Stopped", (await StateAsync(c.Name)).GetProperty("status").GetString());
        await LxcOkAsync("start", c.Name); // and it starts again normally
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);
    }

    // ---- 14: files and descriptors left behind -------------------------------------------------

    [Fact]
    public async Task Delete_removes_the_containers_exit_record()
    {
        await using var c = await fixture.LaunchAsync("rt-statefile");
        await LxcOkAsync("stop", "--force", c.Name);
        var stateFile = Path.Combine(D.Dir, "run", c.Name + ".state");
        Assert.True(File.Exists(stateFile), "a stopped container has its exit record");
        await LxcOkAsync("delete", c.Name);
        Assert.False(File.Exists(stateFile), "deleted with the container");
        Assert.False(File.Exists(Path.Combine(D.Dir, "run", c.Name + ".sock")));
    }

    private int DaemonFds() => Directory.GetFiles($"/proc/{D.Pid}/fd").Length;

    [Fact]
    public async Task Daemon_descriptors_return_to_their_level_after_300_execs()
    {
        await using var c = await fixture.LaunchAsync("rt-fds");
        for (var i = 0; i < 5; i++)
        {
            await LxcOkAsync("exec", c.Name, "--", "true"); // warm: connection pools, a prepared helper
        }
        await Task.Delay(1000);
        var before = DaemonFds();
        for (var i = 0; i < 300; i++)
        {
            var r = await D.LxcAsync("exec", c.Name, "--", "sh", "-c", "echo out; echo err >&2");
            Assert.True(r.ExitCode == 0 && r.Stdout == "out\n", r.ToString());
        }
        var after = DaemonFds();
        // Settles by itself (no GC is forced here): what one exec holds is released when it ends.
        var settled = await EventuallyAsync(() => Task.FromResult(DaemonFds() <= before + 8), 60);
        output.WriteLine($"daemon fds: {before} before, {after} right after 300 execs, {DaemonFds()} settled");
        Assert.True(settled, $"daemon fds {before} before 300 execs, {DaemonFds()} after (right after: {after})");
    }

    // ---- 13: the exec helper and the OOM killer ------------------------------------------------

    /// <summary>hyperlxd-nsexec processes attached to <paramref name="initPid"/>: (pid, parent pid).</summary>
    private static List<(int Pid, int PPid)> Helpers(int initPid)
    {
        var found = new List<(int, int)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                if (argv.Length > 3 && argv[0].EndsWith("hyperlxd-nsexec", StringComparison.Ordinal) && argv[1] == "attach"
                    && argv.Contains(initPid.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                {
                    var ppid = File.ReadLines(Path.Combine(dir, "status")).First(l => l.StartsWith("PPid:", StringComparison.Ordinal))[5..].Trim();
                    found.Add((pid, int.Parse(ppid, System.Globalization.CultureInfo.InvariantCulture)));
                }
            }
            catch (IOException)
            {
            }
        }
        return found;
    }

    private static string MemoryCgroup(int pid) =>
        File.ReadLines($"/proc/{pid}/cgroup").FirstOrDefault(l => l.Split(':')[1].Split(',').Contains("memory"))
        ?? File.ReadLines($"/proc/{pid}/cgroup").First(l => l.StartsWith("0::", StringComparison.Ordinal));

    [Fact]
    public async Task The_exec_helper_is_outside_the_memory_cgroup_and_an_exec_under_OOM_pressure_reports_its_own_exit()
    {
        await using var c = await fixture.LaunchAsync("rt-oom", "-c", "limits.memory=32MiB");
        var init = (await StateAsync(c.Name)).GetProperty("pid").GetInt32();
        await LxcOkAsync("exec", c.Name, "--", "true");

        // The prepared helper that waits for the next exec: the helper itself (the daemon's child) is
        // not in the container's memory cgroup; its child, which becomes the command, is.
        (int Pid, int PPid) helper = default, child = default;
        Assert.True(await EventuallyAsync(() =>
        {
            var all = Helpers(init);
            helper = all.FirstOrDefault(h => h.PPid == D.Pid);
            child = all.FirstOrDefault(h => helper.Pid != 0 && h.PPid == helper.Pid);
            return Task.FromResult(helper.Pid != 0 && child.Pid != 0);
        }, 30), "a prepared exec helper with its waiting child");
        Assert.DoesNotContain("/" + c.Name, MemoryCgroup(helper.Pid));
        Assert.EndsWith("/" + c.Name, MemoryCgroup(child.Pid));

        // Memory pressure: a 20 MiB hog held in the container, then a command that needs 14 MiB more
        // (over the 32 MiB limit): the OOM killer takes the largest task, the hog; the command, whose
        // helper cannot be picked, finishes and its own status (0) is reported.
        const string hog = "(dd if=/dev/zero bs=20M count=1 | sleep 600) </dev/null >/dev/null 2>&1 &";
        for (var i = 0; i < 3; i++)
        {
            await LxcOkAsync("exec", c.Name, "--", "sh", "-c", hog);
            Assert.True(await EventuallyAsync(async () =>
                (await StateAsync(c.Name)).GetProperty("memory").GetProperty("usage").GetInt64() >= 20L << 20, 30), "the hog holds its memory");
            var r = await D.LxcAsync("exec", c.Name, "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=14M", "count=1");
            Assert.True(r.ExitCode == 0, $"exec under memory pressure: {r}");
        }
        Assert.Equal("Running", (await StateAsync(c.Name)).GetProperty("status").GetString());
        Assert.Equal(init, (await StateAsync(c.Name)).GetProperty("pid").GetInt32());
    }
}
