using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>The stock lxc 5.0.2 client driving busybox containers on a daemon made by `hyperlxd init --auto`.</summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcContainerTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    /// <summary>`lxc list NAME -c nsp`: name, state, pid.</summary>
    private async Task<(string State, int Pid)> ListAsync(string name)
    {
        var csv = (await LxcOkAsync("list", name, "-c", "nsp", "--format", "csv")).Trim();
        var cols = csv.Split(',');
        Assert.True(cols.Length == 3 && cols[0] == name, csv);
        return (cols[1], int.TryParse(cols[2], out var pid) ? pid : 0);
    }

    [Fact]
    public async Task Launch_list_exec_exit_code_stop_force_restart_delete()
    {
        await using var c = await fixture.LaunchAsync("lxc-life");
        var (state, pid) = await ListAsync(c.Name);
        Assert.Equal("RUNNING", state);
        Assert.True(pid > 1, $"pid {pid}");
        Assert.True(Directory.Exists($"/proc/{pid}"), "the listed pid is a live host process");

        var exit7 = await D.LxcAsync("exec", c.Name, "--", "sh", "-c", "exit 7");
        Assert.Equal(7, exit7.ExitCode);
        Assert.Equal("hello busybox", (await LxcOkAsync("exec", c.Name, "--", "echo", "hello", "busybox")).Trim());
        Assert.Equal("busybox", (await LxcOkAsync("exec", c.Name, "--", "hostname")).Trim());

        await LxcOkAsync("stop", c.Name);
        Assert.Equal(("STOPPED", 0), await ListAsync(c.Name));
        Assert.False(Directory.Exists($"/proc/{pid}"), "init is gone after stop");

        await LxcOkAsync("start", c.Name);
        var (_, pid2) = await ListAsync(c.Name);
        await LxcOkAsync("restart", c.Name);
        var (state3, pid3) = await ListAsync(c.Name);
        Assert.Equal("RUNNING", state3);
        Assert.NotEqual(pid2, pid3);
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);

        await LxcOkAsync("stop", "--force", c.Name);
        Assert.Equal("STOPPED", (await ListAsync(c.Name)).State);
        await LxcOkAsync("start", c.Name);

        // delete --force on a running container stops it first.
        var (_, pid4) = await ListAsync(c.Name);
        await LxcOkAsync("delete", "--force", c.Name);
        Assert.DoesNotContain(c.Name, await LxcOkAsync("list", "--format", "csv", "-c", "n"));
        Assert.False(Directory.Exists($"/proc/{pid4}"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/" + c.Name)).Status);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Interactive_exec_runs_through_a_pty(bool privileged)
    {
        await using var c = privileged
            ? await fixture.LaunchAsync("lxc-pty-priv", "-c", "security.privileged=true")
            : await fixture.LaunchAsync("lxc-pty");
        // lxc only asks for a pty when its own stdin is a terminal: give it one with python's pty.fork.
        var script = $$"""
            import fcntl, os, pty, select, struct, sys, termios
            pid, fd = pty.fork()
            if pid == 0:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 33, 111, 0, 0))  # lxc sends its size
                os.execvp('lxc', ['lxc', 'exec', '{{c.Name}}', '--', 'sh'])
            out = b''
            def until(marker, resend=None):  # reads until marker; resend: written again while waiting (hang guard: 200 x 0.1 s)
                global out
                for _ in range(200):
                    if resend:
                        os.write(fd, resend)
                    r, _, _ = select.select([fd], [], [], 0.1)
                    while r:
                        try:
                            chunk = os.read(fd, 4096)
                        except OSError:
                            chunk = b''
                        if not chunk:
                            return marker in out
                        out += chunk
                        r, _, _ = select.select([fd], [], [], 0)
                    if marker in out:
                        return True
                return False
            os.write(fd, b'tty; [ -t 0 ] && [ -t 1 ] && echo "pty-$((6*7))"; ls -ln $(tty); echo "size=$(stty size)"\n')
            until(b'size=33 111')
            # A resize of lxc's terminal reaches the command (SIGWINCH -> window-resize -> TIOCSWINSZ); it travels
            # apart from the data, so ask again until it shows.
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', 44, 122, 0, 0))
            until(b'size=44 122', b'echo "size=$(stty size)"\n')
            os.write(fd, b'exit 3\n')
            until(b'\0')  # to EOF
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(out.decode(errors='replace'))
            print('\nEXIT', os.waitstatus_to_exitcode(status))
            """;
        var r = await D.PythonAsync(script);
        Assert.True(r.ExitCode == 0, r.ToString());
        // stdin and stdout are a terminal inside, one of the container's own devpts (as with LXD), root's.
        Assert.Contains("pty-42", r.Stdout);
        Assert.Matches(@"(?m)^/dev/pts/\d+\r?$", r.Stdout);
        Assert.Matches(@"(?m)^crw--w---- +1 0 +0 .* /dev/pts/\d+\r?$", r.Stdout);
        Assert.Contains("size=33 111", r.Stdout);
        Assert.Contains("size=44 122", r.Stdout);
        Assert.Contains("EXIT 3", r.Stdout);
    }

    [Fact]
    public async Task File_push_and_pull()
    {
        await using var c = await fixture.LaunchAsync("lxc-files");
        var dir = Repo.TempDir("hlx-files-");
        try
        {
            var src = Path.Combine(dir, "in.txt");
            var payload = string.Join("\n", Enumerable.Range(0, 2000).Select(i => $"line {i}")) + "\n";
            await File.WriteAllTextAsync(src, payload);
            await LxcOkAsync("file", "push", src, $"{c.Name}/root/pushed.txt");
            Assert.Equal("2000", (await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "wc -l < /root/pushed.txt")).Trim());
            Assert.Matches(@"root\s+root", await LxcOkAsync("exec", c.Name, "--", "ls", "-l", "/root/pushed.txt"));

            await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo made-inside > /tmp/out.txt");
            var dst = Path.Combine(dir, "out.txt");
            await LxcOkAsync("file", "pull", $"{c.Name}/tmp/out.txt", dst);
            Assert.Equal("made-inside\n", await File.ReadAllTextAsync(dst));
            await LxcOkAsync("file", "pull", $"{c.Name}/root/pushed.txt", Path.Combine(dir, "back.txt"));
            Assert.Equal(payload, await File.ReadAllTextAsync(Path.Combine(dir, "back.txt")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task File_push_and_pull_on_the_containers_own_mounts()
    {
        await using var c = await fixture.LaunchAsync("lxc-mnt");
        var dir = Repo.TempDir("hlx-files-");
        try
        {
            var src = Path.Combine(dir, "in.txt");
            await File.WriteAllTextAsync(src, "on a tmpfs of the container\n");
            await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "mkdir -p /mnt/own && mount -t tmpfs tmpfs /mnt/own");
            await LxcOkAsync("file", "push", "--uid", "1000", "--gid", "1000", "--mode", "0640", src, $"{c.Name}/mnt/own/pushed.txt");
            Assert.Equal("1000:1000 640 on a tmpfs of the container",
                (await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo $(stat -c '%u:%g %a' /mnt/own/pushed.txt) $(cat /mnt/own/pushed.txt)")).Trim());
            await LxcOkAsync("file", "pull", $"{c.Name}/mnt/own/pushed.txt", Path.Combine(dir, "back.txt"));
            Assert.Equal("on a tmpfs of the container\n", await File.ReadAllTextAsync(Path.Combine(dir, "back.txt")));

            // /dev/shm is the container's own tmpfs too; a whole directory comes back with -r.
            await LxcOkAsync("file", "push", src, $"{c.Name}/dev/shm/shm.txt");
            await LxcOkAsync("file", "pull", "-r", $"{c.Name}/mnt/own", Path.Combine(dir, "tree"));
            Assert.Equal("on a tmpfs of the container\n", await File.ReadAllTextAsync(Path.Combine(dir, "tree", "own", "pushed.txt")));
            await LxcOkAsync("file", "pull", $"{c.Name}/dev/shm/shm.txt", Path.Combine(dir, "shm.txt"));
            Assert.Equal("on a tmpfs of the container\n", await File.ReadAllTextAsync(Path.Combine(dir, "shm.txt")));

            await LxcOkAsync("file", "delete", $"{c.Name}/mnt/own/pushed.txt", $"{c.Name}/dev/shm/shm.txt");
            Assert.Equal("gone", (await LxcOkAsync("exec", c.Name, "--", "sh", "-c",
                "test ! -e /mnt/own/pushed.txt && test ! -e /dev/shm/shm.txt && echo gone")).Trim());
            var missing = await D.LxcAsync("file", "pull", $"{c.Name}/mnt/own/pushed.txt", Path.Combine(dir, "nope.txt"));
            Assert.True(missing.ExitCode != 0 && missing.Stderr.Contains("not found", StringComparison.OrdinalIgnoreCase), missing.ToString());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Limits_memory_is_enforced_live()
    {
        await using var c = await fixture.LaunchAsync("lxc-mem");
        // busybox tail keeps a line-less stream in memory: ~200 MB resident.
        const string Hog = "head -c 200m /dev/zero | tail >/dev/null";
        var free = await D.LxcAsync("exec", c.Name, "--", "sh", "-c", Hog);
        Assert.True(free.ExitCode == 0, "without a limit the allocation succeeds: " + free);

        await LxcOkAsync("config", "set", c.Name, "limits.memory=64MiB");
        Assert.Contains("limits.memory: 64MiB", await LxcOkAsync("config", "show", c.Name));
        var limited = await D.LxcAsync("exec", c.Name, "--", "sh", "-c", Hog);
        Assert.True(limited.ExitCode != 0, "beyond 64MiB the allocation is killed: " + limited);
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);

        await LxcOkAsync("config", "unset", c.Name, "limits.memory");
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "sh", "-c", Hog)).ExitCode);
    }

    [Fact]
    public async Task Profile_changes_reach_running_instances_and_bad_ones_are_refused()
    {
        await LxcOkAsync("profile", "create", "lxc-lim");
        try
        {
            await using var c = await fixture.LaunchAsync("lxc-prof", "-p", "default", "-p", "lxc-lim");
            const string Hog = "head -c 200m /dev/zero | tail >/dev/null";
            Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "sh", "-c", Hog)).ExitCode);

            // As in LXD, a profile's limits apply live to the running instances that use it.
            await LxcOkAsync("profile", "set", "lxc-lim", "limits.memory=64MiB");
            Assert.NotEqual(0, (await D.LxcAsync("exec", c.Name, "--", "sh", "-c", Hog)).ExitCode);
            await LxcOkAsync("profile", "unset", "lxc-lim", "limits.memory");
            Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "sh", "-c", Hog)).ExitCode);

            // Taking the root disk away from an instance is refused, and the profile stays as it was.
            var before = await LxcOkAsync("profile", "show", "default");
            var bad = await D.LxcAsync("profile", "device", "remove", "default", "root");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("root disk", bad.Stderr);
            Assert.Equal(before, await LxcOkAsync("profile", "show", "default"));
        }
        finally
        {
            await D.LxcAsync("profile", "delete", "lxc-lim");
        }
    }

    [Fact]
    public async Task Security_nesting_leaves_proc_and_sys_whole_and_cannot_change_live()
    {
        // Privileged containers get /proc/sys and /sys read-only; nesting drops those overlays (LXD's proc:rw sys:rw).
        await using var plain = await fixture.LaunchAsync("lxc-priv", "-c", "security.privileged=true");
        await using var nested = await fixture.LaunchAsync("lxc-nest", "-c", "security.privileged=true", "-c", "security.nesting=true");
        Assert.Equal("1", (await LxcOkAsync("exec", plain.Name, "--", "grep", "-c", " /proc/sys ", "/proc/self/mountinfo")).Trim());
        var none = await D.LxcAsync("exec", nested.Name, "--", "grep", "-c", " /proc/sys ", "/proc/self/mountinfo");
        Assert.Equal("0", none.Stdout.Trim());
        Assert.Equal("proc-ok", (await LxcOkAsync("exec", nested.Name, "--", "sh", "-c", "mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo proc-ok")).Trim());

        var live = await D.LxcAsync("config", "set", plain.Name, "security.nesting=true");
        Assert.NotEqual(0, live.ExitCode);
        Assert.Contains("security.nesting", live.Stderr);
    }

    [Fact]
    public async Task Snapshot_and_restore()
    {
        await using var c = await fixture.LaunchAsync("lxc-snap");
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo one > /root/marker");
        await LxcOkAsync("snapshot", c.Name, "s0");
        Assert.Contains("s0", await LxcOkAsync("info", c.Name));
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo two > /root/marker; touch /root/later");

        await LxcOkAsync("restore", c.Name, "s0");
        Assert.Equal("RUNNING", (await ListAsync(c.Name)).State);
        Assert.Equal("one", (await LxcOkAsync("exec", c.Name, "--", "cat", "/root/marker")).Trim());
        Assert.NotEqual(0, (await D.LxcAsync("exec", c.Name, "--", "test", "-e", "/root/later")).ExitCode);

        // A stopped container restores too and stays stopped.
        await LxcOkAsync("stop", "--force", c.Name);
        await LxcOkAsync("snapshot", c.Name, "s1");
        await LxcOkAsync("restore", c.Name, "s0");
        Assert.Equal("STOPPED", (await ListAsync(c.Name)).State);
        await LxcOkAsync("delete", $"{c.Name}/s1");
        Assert.DoesNotContain("s1", await LxcOkAsync("info", c.Name));
    }

    [Fact]
    public async Task Pause_freezes_and_start_thaws()
    {
        await using var c = await fixture.LaunchAsync("lxc-freeze");
        var pid = await fixture.InitPidAsync(c.Name);
        await LxcOkAsync("pause", c.Name);
        Assert.Equal("FROZEN", (await ListAsync(c.Name)).State);
        // The host sees the init process stopped by the freezer.
        var status = await File.ReadAllTextAsync($"/proc/{pid}/status");
        Assert.Matches(@"State:\s+[DST]", status);

        await LxcOkAsync("start", c.Name);
        Assert.Equal("RUNNING", (await ListAsync(c.Name)).State);
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);

        // A frozen container can still be stopped by force (the freezer holds even SIGKILL until thawed).
        await LxcOkAsync("pause", c.Name);
        await LxcOkAsync("stop", "--force", c.Name);
        Assert.Equal("STOPPED", (await ListAsync(c.Name)).State);
        Assert.False(Directory.Exists($"/proc/{pid}"), "init must be gone");
    }

    [Fact]
    public async Task Console_show_log()
    {
        await using var c = await fixture.LaunchAsync("lxc-console");
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo console-mark-$((40+2)) > /dev/console");
        var log = await LxcOkAsync("console", c.Name, "--show-log");
        Assert.Contains("console-mark-42", log);
    }

    [Fact]
    public async Task Info_show_log_reads_the_start_log_and_other_files_are_not_served()
    {
        await using var c = await fixture.LaunchAsync("lxc-log");
        var info = await LxcOkAsync("info", c.Name, "--show-log");
        Assert.Contains($"starting container {c.Name}", info);
        Assert.Matches(@"(?m)^idmap: u 0 \d+ \d+", info);

        var list = await D.Api.GetAsync($"/1.0/instances/{c.Name}/logs");
        Assert.Equal(System.Net.HttpStatusCode.OK, list.Status);
        Assert.Equal(new[] { $"/1.0/instances/{c.Name}/logs/lxc.log" }, list.Metadata.EnumerateArray().Select(e => e.GetString()!).ToArray());
        // Only LXD's log names: the spec the monitor reads, a traversal and an encoded slash are refused.
        foreach (var file in new[] { "container.spec", "..%2F..%2Fetc%2Fpasswd", "exec_..%2F..%2Fx" })
        {
            var r = await D.Api.GetAsync($"/1.0/instances/{c.Name}/logs/{file}");
            Assert.True(r.Status == System.Net.HttpStatusCode.BadRequest, $"{file}: {r}");
        }
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync($"/1.0/instances/{c.Name}/logs/exec_none")).Status);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/no-such/logs")).Status);
        var delete = await D.Api.DeleteAsync($"/1.0/instances/{c.Name}/logs/lxc.log");
        Assert.True(delete.Status == System.Net.HttpStatusCode.BadRequest, delete.ToString());
        Assert.Contains("starting container", await LxcOkAsync("info", c.Name, "--show-log"));
    }

    [Fact]
    public async Task Containers_are_unprivileged_root_is_a_high_host_uid()
    {
        await using var c = await fixture.LaunchAsync("lxc-userns");
        Assert.Equal("0", (await LxcOkAsync("exec", c.Name, "--", "id", "-u")).Trim());
        var pid = await fixture.InitPidAsync(c.Name);
        var uidLine = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        var hostUid = long.Parse(uidLine.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);
        Assert.True(hostUid >= 65536, $"container root runs as host uid {hostUid}");
        // The init process lives in its own user namespace mapping 0 to that uid.
        var map = File.ReadAllText($"/proc/{pid}/uid_map").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", map[0]);
        Assert.Equal(hostUid.ToString(), map[1]);
        Assert.NotEqual(new FileInfo("/proc/self/ns/user").LinkTarget, new FileInfo($"/proc/{pid}/ns/user").LinkTarget);

        // A file made by root inside is owned by the high uid on the host's view of the rootfs.
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo x > /root/owned; sync");
        var pidRoot = $"/proc/{pid}/root/root/owned";
        var stat = await ProcessRunner.RunAsync("stat", new[] { "-c", "%u", pidRoot });
        Assert.Equal(hostUid.ToString(), stat.Stdout.Trim());
    }
}
