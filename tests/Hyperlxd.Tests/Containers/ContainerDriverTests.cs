using System.Text;
using System.Text.RegularExpressions;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Containers;

[Collection("containers")]
public sealed class ContainerDriverTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static ExecOptions Exec(params string[] cmd) => new(cmd, new Dictionary<string, string>(), false, 0, 0, 0, 0, "/");

    [Fact]
    public async Task Start_runs_an_unprivileged_init_with_exec_console_and_graceful_stop()
    {
        await using var c = await TestContainer.CreateAsync();
        var state = await c.Driver.GetStateAsync(c.Spec, None);
        Assert.Equal(InstanceStatus.Running, state.Status);
        Assert.True(state.Pid > 0);
        Assert.Contains("Uid:\t1000000\t", await File.ReadAllTextAsync($"/proc/{state.Pid}/status"));
        Assert.Equal("1000000", c.Spec.Config["volatile.idmap.base"]);
        Assert.True(state.Network.ContainsKey("lo"));

        // Idmapped root (this host allows it): the disk keeps the image's ids (LXD's "[]"), root's files are root's inside,
        // and a file made inside is 1000000 on the host through the container's mount, 0 on the unshifted disk.
        Assert.Equal("[]", c.Spec.Config["volatile.last_state.idmap"]);
        Assert.Contains("\"Hostid\":1000000", c.Spec.Config["volatile.idmap.current"]);
        Assert.Equal("0:0", (await c.ExecAsync("stat", "-c", "%u:%g", "/bin/busybox")).Out.Trim());
        Assert.Equal(0, (await c.ExecAsync("sh", "-c", "echo x > /tmp/made-inside")).Code);
        Assert.Equal("0:0", (await c.ExecAsync("stat", "-c", "%u:%g", "/tmp/made-inside")).Out.Trim());
        Assert.Equal((1000000u, 1000000u), await Owner($"/proc/{state.Pid}/root/tmp/made-inside"));
        Assert.Equal((0u, 0u), await Owner(Path.Combine(c.RootFs, "tmp", "made-inside")));
        Assert.Equal((0u, 0u), await Owner(Path.Combine(c.RootFs, "bin", "busybox")));

        Assert.Equal(7, (await c.ExecAsync("sh", "-c", "exit 7")).Code);
        var missing = await c.ExecAsync("/no/such/binary");
        Assert.Equal(127, missing.Code);
        Assert.Contains("Failed exec /no/such/binary", missing.Err);

        var r = await c.ExecAsync(new ExecOptions(new[] { "sh", "-c", "echo $FOO $(id -u):$(id -g) $(pwd)" },
            new Dictionary<string, string> { ["FOO"] = "bar" }, false, 0, 0, 1000, 1001, "/tmp"));
        Assert.Equal("bar 1000:1001 /tmp\n", r.Out);

        Assert.Contains("hello-from-init", TestContainer.Utf8(await c.Driver.ConsoleLogAsync(c.Spec, None)));

        await c.Driver.StopAsync(c.Spec, false, TimeSpan.FromSeconds(30), None);
        var stopped = await c.Driver.GetStateAsync(c.Spec, None);
        Assert.Equal(InstanceStatus.Stopped, stopped.Status);
        Assert.Equal("halt", stopped.LastExit?.Reason);
        Assert.DoesNotContain(c.Name, c.Driver.Cgroups.List());
        Assert.Contains("hello-from-init", TestContainer.Utf8(await c.Driver.ConsoleLogAsync(c.Spec, None)));
    }

    /// <summary>
    /// The terminal comes from the container's own devpts, as in LXD: <c>tty</c> names /dev/pts/N inside, the
    /// slave belongs to the exec'd uid/gid with mode 0620, the size follows the request and a resize.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Interactive_exec_gets_a_pty_of_the_containers_devpts(bool privileged)
    {
        await using var c = await TestContainer.CreateAsync(privileged ? new Dictionary<string, string> { ["security.privileged"] = "true" } : null);
        const string Script = "tty; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size; ls -ln $(tty); echo ready; read x; stty size; echo h\"\"i; exit 3";
        await using var s = await c.Driver.ExecAsync(c.Spec,
            new ExecOptions(new[] { "sh", "-c", Script }, new Dictionary<string, string> { ["TERM"] = "xterm" }, true, 80, 24, 1000, 1001, "/"), None);
        Assert.NotNull(s.Pty);
        var output = new PtyOutput(s.Pty!);
        await output.WaitForLineAsync("ready");
        s.Resize(100, 40);
        await s.Pty!.WriteAsync(Encoding.ASCII.GetBytes("go\n"));
        Assert.Equal(3, await s.WaitAsync(None));
        var lines = await output.LinesAsync();
        Assert.Matches(@"^/dev/pts/\d+$", lines[0]);
        Assert.Equal(new[] { "is-a-tty", "24 80" }, lines[1..3]);
        Assert.Matches($@"^crw--w---- +1 1000 +1001 .* {Regex.Escape(lines[0])}$", lines[3]);
        Assert.Equal(new[] { "ready", "go", "40 100", "hi" }, lines[4..]);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(c.RuntimeDir, "exec")));
    }

    /// <summary>Commands that are gone before the driver even accepted the helper's connection still hand over their terminal.</summary>
    [Fact]
    public async Task Quick_interactive_commands_deliver_output_and_status()
    {
        await using var c = await TestContainer.CreateAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            await using var s = await c.Driver.ExecAsync(c.Spec,
                new ExecOptions(new[] { "sh", "-c", $"echo quick-{i}; exit {i % 4}" }, new Dictionary<string, string>(), true, 0, 0, 0, 0, "/"), None);
            var output = new PtyOutput(s.Pty!);
            var code = await s.WaitAsync(None);
            return (code, string.Join("|", await output.LinesAsync()));
        }));
        Assert.Equal(Enumerable.Range(0, 30).Select(i => (i % 4, $"quick-{i}")), results);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(c.RuntimeDir, "exec")));
    }

    [Fact]
    public async Task Interactive_exec_in_a_container_without_devpts_fails_with_the_reason_and_leaves_nothing()
    {
        await using var c = await TestContainer.CreateAsync();
        Assert.Equal(0, (await c.ExecAsync("umount", "/dev/pts")).Code);
        var e = await Assert.ThrowsAsync<IOException>(() => c.Driver.ExecAsync(c.Spec,
            new ExecOptions(new[] { "true" }, new Dictionary<string, string>(), true, 80, 24, 0, 0, "/"), None));
        Assert.Equal("Failed opening the container's /dev/pts/ptmx: No such file or directory", e.Message);
        Assert.Equal(2, e.HResult);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(c.RuntimeDir, "exec")));
        Assert.DoesNotContain(Directory.EnumerateDirectories("/proc"), p => Cmdline(p).Contains(c.RuntimeDir + "/exec/"));
        Assert.Equal("ok", (await c.ExecAsync("echo", "ok")).Out.Trim()); // non-interactive exec does not need it
    }

    private static string Cmdline(string procDir)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDir, "cmdline")).Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>Everything read from a pty master until EOF, as lines (the terminal's CRLF undone).</summary>
    private sealed class PtyOutput
    {
        private readonly StringBuilder _text = new();
        private readonly Task _reader;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public PtyOutput(Stream pty) => _reader = ReadAsync(pty);

        private async Task ReadAsync(Stream pty)
        {
            var buffer = new byte[4096];
            int n;
            while ((n = await pty.ReadAsync(buffer)) > 0)
            {
                lock (_text)
                {
                    _text.Append(Encoding.UTF8.GetString(buffer, 0, n));
                    _changed.TrySetResult();
                    _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }
            lock (_text)
            {
                _changed.TrySetResult();
            }
        }

        private string[] Lines()
        {
            lock (_text)
            {
                return _text.ToString().Replace("\r\n", "\n").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            }
        }

        public async Task WaitForLineAsync(string line)
        {
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(1)); // hang guard only
            while (true)
            {
                Task changed;
                lock (_text)
                {
                    changed = _changed.Task; // taken before looking: output arriving meanwhile completes it
                }
                if (Lines().Contains(line))
                {
                    return;
                }
                Assert.False(_reader.IsCompleted, $"EOF before \"{line}\": {string.Join(" | ", Lines())}");
                await changed.WaitAsync(guard.Token);
            }
        }

        public async Task<string[]> LinesAsync()
        {
            await _reader;
            return Lines();
        }
    }

    [Fact]
    public async Task Signal_reaches_the_command()
    {
        await using var c = await TestContainer.CreateAsync();
        await using var s = await c.Driver.ExecAsync(c.Spec, Exec("sleep", "1000"), None);
        s.Stdin!.Close();
        await Task.Delay(100); // let the helper fork the command (the signal goes to its child)
        s.Signal(9);
        Assert.Equal(128 + 9, await s.WaitAsync(None));
    }

    [Fact]
    public async Task Files_roundtrip_with_ownership_and_stay_inside_the_root()
    {
        await using var c = await TestContainer.CreateAsync();
        await c.Driver.PutFileAsync(c.Spec, "/root/a.txt", new FileWrite(FileType.File, 1000, 1001, 0x1C0, false, null),
            new MemoryStream(Encoding.ASCII.GetBytes("content")), None);
        Assert.Equal("1000:1001 700 content", (await c.ExecAsync("sh", "-c", "echo $(stat -c %u:%g /root/a.txt) $(stat -c %a /root/a.txt) $(cat /root/a.txt)")).Out.Trim());
        await using (var f = await c.Driver.GetFileAsync(c.Spec, "/root/a.txt", None))
        {
            Assert.Equal((FileType.File, 1000u, 1001u, 0x1C0u), (f.Type, f.Uid, f.Gid, f.Mode));
            using var reader = new StreamReader(f.Content!);
            Assert.Equal("content", await reader.ReadToEndAsync());
        }
        await c.Driver.PutFileAsync(c.Spec, "/root/d", new FileWrite(FileType.Directory, null, null, null, false, null), Stream.Null, None);
        await c.Driver.PutFileAsync(c.Spec, "/root/l", new FileWrite(FileType.Symlink, null, null, null, false, "a.txt"), Stream.Null, None);
        var dir = await c.Driver.GetFileAsync(c.Spec, "/root", None);
        Assert.Equal(new[] { "a.txt", "d", "l" }, dir.Entries);
        Assert.Equal("a.txt", (await c.Driver.GetFileAsync(c.Spec, "/root/l", None)).Target);
        await c.Driver.DeleteFileAsync(c.Spec, "/root/l", None);
        await c.Driver.DeleteFileAsync(c.Spec, "/root/d", None);
        await Assert.ThrowsAsync<NotFoundException>(() => c.Driver.GetFileAsync(c.Spec, "/root/d", None));

        // Escapes: ".." and a link to the host's /etc both land in the container's own /etc.
        var hostShadow = await File.ReadAllBytesAsync("/etc/shadow");
        await c.Driver.PutFileAsync(c.Spec, "../../etc/shadow", new FileWrite(FileType.File, null, null, null, false, null),
            new MemoryStream(Encoding.ASCII.GetBytes("evil1")), None);
        File.CreateSymbolicLink(Path.Combine(c.Spec.RootPath, "rootfs", "hostetc"), "/etc");
        await c.Driver.PutFileAsync(c.Spec, "/hostetc/shadow", new FileWrite(FileType.File, null, null, null, false, null),
            new MemoryStream(Encoding.ASCII.GetBytes("evil2")), None);
        File.CreateSymbolicLink(Path.Combine(c.Spec.RootPath, "rootfs", "magic"), "/proc/1/root/etc");
        await Assert.ThrowsAnyAsync<Exception>(() => c.Driver.PutFileAsync(c.Spec, "/magic/shadow",
            new FileWrite(FileType.File, null, null, null, false, null), new MemoryStream(Encoding.ASCII.GetBytes("evil3")), None));
        Assert.Equal(hostShadow, await File.ReadAllBytesAsync("/etc/shadow"));
        Assert.Equal("evil2", (await c.ExecAsync("cat", "/etc/shadow")).Out);
    }

    [Fact]
    public async Task Limits_are_enforced_and_change_live()
    {
        await using var c = await TestContainer.CreateAsync(new Dictionary<string, string> { ["limits.memory"] = "64MiB", ["limits.processes"] = "100" });
        var mem = $"/sys/fs/cgroup/memory/hyperlxd/{c.Name}";
        Assert.Equal((64L << 20).ToString(), (await File.ReadAllTextAsync($"{mem}/memory.limit_in_bytes")).Trim());
        // 200 MB into a shell variable: the OOM killer ends it.
        var oom = await c.ExecAsync("sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived");
        Assert.DoesNotContain("survived", oom.Out);
        Assert.NotEqual(0, oom.Code);

        var changed = new Dictionary<string, string> { ["limits.memory"] = "128MiB", ["limits.processes"] = "50", ["limits.cpu"] = "1", ["limits.cpu.allowance"] = "25ms/100ms" };
        c.WithConfig(changed);
        await c.Driver.ApplyConfigAsync(c.Spec, changed, None);
        Assert.Equal((128L << 20).ToString(), (await File.ReadAllTextAsync($"{mem}/memory.limit_in_bytes")).Trim());
        Assert.Equal("50", (await File.ReadAllTextAsync($"/sys/fs/cgroup/pids/hyperlxd/{c.Name}/pids.max")).Trim());
        Assert.Equal("0", (await File.ReadAllTextAsync($"/sys/fs/cgroup/cpuset/hyperlxd/{c.Name}/cpuset.cpus")).Trim());
        Assert.Equal("25000", (await File.ReadAllTextAsync($"/sys/fs/cgroup/cpu/hyperlxd/{c.Name}/cpu.cfs_quota_us")).Trim());

        var bad = new Dictionary<string, string> { ["security.privileged"] = "true" };
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.ApplyConfigAsync(c.Spec, bad, None));
        var badCpu = new Dictionary<string, string> { ["limits.cpu"] = "0-63", ["limits.memory"] = "96MiB" };
        var before = c.Spec;
        c.WithConfig(badCpu);
        await Assert.ThrowsAsync<BadRequestException>(() => c.Driver.ApplyConfigAsync(c.Spec, badCpu, None));
        Assert.Equal((128L << 20).ToString(), (await File.ReadAllTextAsync($"{mem}/memory.limit_in_bytes")).Trim()); // nothing half-applied
    }

    [Fact]
    public async Task Freeze_and_unfreeze()
    {
        await using var c = await TestContainer.CreateAsync();
        await c.Driver.FreezeAsync(c.Spec, None);
        Assert.Equal(InstanceStatus.Frozen, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
        Assert.Equal("FROZEN", (await File.ReadAllTextAsync($"/sys/fs/cgroup/freezer/hyperlxd/{c.Name}/freezer.state")).Trim());
        await c.Driver.UnfreezeAsync(c.Spec, None);
        Assert.Equal(InstanceStatus.Running, (await c.Driver.GetStateAsync(c.Spec, None)).Status);
        Assert.Equal(0, (await c.ExecAsync("true")).Code);
    }

    [Fact]
    public async Task Two_hundred_concurrent_execs_all_finish()
    {
        await using var c = await TestContainer.CreateAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => c.ExecAsync("sh", "-c", $"echo {i}")));
        Assert.All(results.Select((r, i) => (r, i)), x => Assert.Equal($"{x.i}\n", x.r.Out));
    }

    [Fact]
    public async Task Force_stop_and_restart_of_the_daemon_and_reconcile()
    {
        await using var c = await TestContainer.CreateAsync();
        var pid = await c.InitPidAsync();
        // A new driver (a restarted daemon) finds the running container and can exec in it.
        var again = c.NewDriver();
        Assert.Equal(pid, (await again.GetStateAsync(c.Spec, None)).Pid);
        await again.ReconcileAsync(new[] { c.Spec }, None);
        await using (var s = await again.ExecAsync(c.Spec, Exec("sh", "-c", "exit 4"), None))
        {
            s.Stdin!.Close();
            Assert.Equal(4, await s.WaitAsync(None));
        }
        await again.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        var st = await again.GetStateAsync(c.Spec, None);
        Assert.Equal(("killed", 9), (st.LastExit?.Reason, st.LastExit?.Signal));
        Assert.False(Directory.Exists($"/proc/{pid}"));

        // Started again, then forgotten by the daemon: reconcile kills it and removes everything.
        await c.Driver.StartAsync(c.Spec, None);
        pid = await c.InitPidAsync();
        await again.ReconcileAsync(Array.Empty<InstanceSpec>(), None);
        Assert.Equal(InstanceStatus.Stopped, (await again.GetStateAsync(c.Spec, None)).Status);
        Assert.DoesNotContain(c.Name, again.Cgroups.List());
        Assert.Empty(Directory.EnumerateFiles(c.RuntimeDir));
        for (var i = 0; i < 100 && Directory.Exists($"/proc/{pid}"); i++)
        {
            await Task.Delay(20);
        }
        Assert.False(Directory.Exists($"/proc/{pid}"));
    }

    [Fact]
    public async Task Without_idmapped_mounts_the_root_is_shifted_and_stays_shifted()
    {
        await using var c = await TestContainer.CreateAsync(idmappedMounts: false);
        var pid = await c.InitPidAsync();
        Assert.Contains("\"Hostid\":1000000", c.Spec.Config["volatile.last_state.idmap"]);
        Assert.Equal((1000000u, 1000000u), await Owner(Path.Combine(c.RootFs, "bin", "busybox")));
        Assert.Equal(0, (await c.ExecAsync("sh", "-c", "echo x > /tmp/made-inside")).Code);
        Assert.Equal((1000000u, 1000000u), await Owner(Path.Combine(c.RootFs, "tmp", "made-inside")));
        Assert.Equal((1000000u, 1000000u), await Owner($"/proc/{pid}/root/tmp/made-inside"));
        // Files API: ids inside, translated through the shift.
        await using (var f = await c.Driver.GetFileAsync(c.Spec, "/tmp/made-inside", None))
        {
            Assert.Equal((0u, 0u), (f.Uid, f.Gid));
        }

        // A daemon that can idmap keeps an already shifted root as it is (no idmapped mount, no re-shift).
        await c.Driver.StopAsync(c.Spec, true, TimeSpan.Zero, None);
        c.UseDriver(c.NewDriver(idmappedMounts: true));
        c.WithConfig(await c.Driver.PrepareAsync(c.Spec, None));
        Assert.Contains("\"Hostid\":1000000", c.Spec.Config["volatile.last_state.idmap"]);
        await c.Driver.StartAsync(c.Spec, None);
        Assert.DoesNotContain("rootfs-idmap", await File.ReadAllTextAsync(Path.Combine(c.Spec.StateDir, "container.spec")));
        Assert.Equal((1000000u, 1000000u), await Owner(Path.Combine(c.RootFs, "bin", "busybox")));
        Assert.Equal("0:0", (await c.ExecAsync("stat", "-c", "%u:%g", "/bin/busybox")).Out.Trim());
    }

    [Fact]
    public async Task Files_api_on_an_idmapped_root_uses_the_disk_ids()
    {
        await using var c = await TestContainer.CreateAsync();
        await c.Driver.PutFileAsync(c.Spec, "/root/b.txt", new FileWrite(FileType.File, 1000, 1001, null, false, null),
            new MemoryStream(Encoding.ASCII.GetBytes("b")), None);
        Assert.Equal((1000u, 1001u), await Owner(Path.Combine(c.RootFs, "root", "b.txt")));
        Assert.Equal("1000:1001", (await c.ExecAsync("stat", "-c", "%u:%g", "/root/b.txt")).Out.Trim());
        Assert.Equal(0, (await c.ExecAsync("sh", "-c", "echo y > /root/c.txt")).Code);
        await using var f = await c.Driver.GetFileAsync(c.Spec, "/root/c.txt", None);
        Assert.Equal((0u, 0u), (f.Uid, f.Gid));
    }

    /// <summary>Owner of a host path as the host sees it (GNU stat; does not follow a final link).</summary>
    private static async Task<(uint Uid, uint Gid)> Owner(string path)
    {
        var r = await ProcessRunner.RunAsync("stat", new[] { "-c", "%u %g", path });
        var f = r.Stdout.Trim().Split(' ');
        return (uint.Parse(f[0]), uint.Parse(f[1]));
    }

    [Fact]
    public async Task Privileged_container_keeps_host_ids()
    {
        await using var c = await TestContainer.CreateAsync(new Dictionary<string, string> { ["security.privileged"] = "true" });
        var pid = await c.InitPidAsync();
        Assert.Contains("Uid:\t0\t", await File.ReadAllTextAsync($"/proc/{pid}/status"));
        Assert.Equal("0", (await c.ExecAsync("id", "-u")).Out.Trim());
    }
}
