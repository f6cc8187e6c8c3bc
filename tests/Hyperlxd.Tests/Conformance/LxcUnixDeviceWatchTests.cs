using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: unix-char/unix-block devices with <c>required=false</c> follow their host node while the
/// container runs (LXD 5.0.2's <c>unix_device_hotplug</c>): the node made later appears inside with its
/// numbers and cgroup access, its removal takes it away, and this goes on across a daemon restart
/// (including what changed while the daemon was down). Sources are nodes made with mknod in a test
/// directory, under a subdirectory that itself appears later. Its own daemon (it restarts it).
/// </summary>
public sealed class LxcUnixDeviceWatchTests
{
    /// <summary>How long a change on the host may take to show inside (a hang guard on a loaded machine, not a timing).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static async Task<string> OkAsync(DaemonProcess d, params string[] args)
    {
        var r = await d.LxcAsync(args);
        Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    /// <summary>`stat -c '%F %t %T'` of <paramref name="path"/> inside, or "missing".</summary>
    private static async Task<string> NodeInsideAsync(DaemonProcess d, string c, string path)
    {
        var r = await d.LxcAsync("exec", c, "--", "sh", "-c", $"stat -c '%F %t %T' {path} 2>/dev/null || echo missing");
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Trim();
    }

    private static async Task WaitNodeAsync(DaemonProcess d, string c, string path, string expected)
    {
        var deadline = DateTime.UtcNow + Patience;
        string seen;
        do
        {
            seen = await NodeInsideAsync(d, c, path);
            if (seen == expected)
            {
                return;
            }
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"{path} in {c}: expected \"{expected}\", still \"{seen}\"");
    }

    /// <summary>The container's cgroup v1 devices.list (the backend on this hybrid host).</summary>
    private static async Task<string[]> DevicesListAsync(DaemonProcess d, string c)
    {
        var pid = (await d.Api.GetAsync($"/1.0/instances/{c}/state")).Metadata.GetProperty("pid").GetInt32();
        var line = (await File.ReadAllLinesAsync($"/proc/{pid}/cgroup")).FirstOrDefault(l => l.Split(':')[1].Split(',').Contains("devices"));
        Assert.True(line is not null, "expected the cgroup1 backend on this host (cgroup2 cannot hot-plug unix devices)");
        return await File.ReadAllLinesAsync(Path.Combine("/sys/fs/cgroup/devices", line.Split(':')[2].TrimStart('/'), "devices.list"));
    }

    private static async Task MknodAsync(string path, char kind, int major, int minor)
    {
        var r = await ProcessRunner.RunAsync("mknod", [path, kind.ToString(), major.ToString(System.Globalization.CultureInfo.InvariantCulture), minor.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public async Task Optional_unix_devices_appear_and_go_with_their_host_node_also_across_a_daemon_restart()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        var dir = Repo.TempDir("hlx-unixwatch-");
        const string C = "uw";
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            Assert.Contains("unix_device_hotplug",
                (await d.Api.GetAsync("/1.0")).Metadata.GetProperty("api_extensions").EnumerateArray().Select(e => e.GetString()));
            var sub = Path.Combine(dir, "sub");
            var charSource = Path.Combine(sub, "lc");      // its directory does not exist yet either
            var blockSource = Path.Combine(dir, "loop");
            await OkAsync(d, "init", "busybox", C);
            await OkAsync(d, "config", "device", "add", C, "opt", "unix-char", $"source={charSource}", "path=/dev/hlx-opt", "required=false", "mode=0640");
            await OkAsync(d, "config", "device", "add", C, "blk", "unix-block", $"source={blockSource}", "path=/dev/hlx-blk", "required=false");
            await OkAsync(d, "start", C);
            Assert.Equal("missing", await NodeInsideAsync(d, C, "/dev/hlx-opt"));
            Assert.Equal("missing", await NodeInsideAsync(d, C, "/dev/hlx-blk"));
            Assert.DoesNotContain("c 10:237 rwm", await DevicesListAsync(d, C));

            // The node appears (under a directory made now): in the container with its numbers, mode and access.
            Directory.CreateDirectory(sub);
            await MknodAsync(charSource, 'c', 10, 237); // /dev/loop-control's numbers
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "character special file a ed");
            Assert.Equal("640", (await OkAsync(d, "exec", C, "--", "stat", "-c", "%a", "/dev/hlx-opt")).Trim());
            Assert.Contains("c 10:237 rwm", await DevicesListAsync(d, C));
            if (File.Exists("/dev/loop-control"))
            {
                Assert.Equal("opened\n", await OkAsync(d, "exec", C, "--", "sh", "-c", ": < /dev/hlx-opt && echo opened"));
            }
            await MknodAsync(blockSource, 'b', 7, 0);
            await WaitNodeAsync(d, C, "/dev/hlx-blk", "block special file 7 0");
            Assert.Contains("b 7:0 rwm", await DevicesListAsync(d, C));

            // Removed on the host: gone inside, and its access with it.
            File.Delete(charSource);
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "missing");
            Assert.DoesNotContain("c 10:237 rwm", await DevicesListAsync(d, C));
            Assert.Equal("block special file 7 0", await NodeInsideAsync(d, C, "/dev/hlx-blk"));

            // Made again with other numbers: those are the ones inside.
            await MknodAsync(charSource, 'c', 10, 236);
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "character special file a ec");
            Assert.Contains("c 10:236 rwm", await DevicesListAsync(d, C));

            // The daemon goes away; meanwhile the char node is removed and the block node too. The container keeps running.
            var pid = (await d.Api.GetAsync($"/1.0/instances/{C}/state")).Metadata.GetProperty("pid").GetInt32();
            await d.KillAsync();
            File.Delete(charSource);
            File.Delete(blockSource);
            await d.StartAsync();
            Assert.Equal(pid, (await d.Api.GetAsync($"/1.0/instances/{C}/state")).Metadata.GetProperty("pid").GetInt32());
            // Caught up at start-up, and watched again afterwards.
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "missing");
            await WaitNodeAsync(d, C, "/dev/hlx-blk", "missing");
            Assert.DoesNotContain("c 10:236 rwm", await DevicesListAsync(d, C));
            Assert.DoesNotContain("b 7:0 rwm", await DevicesListAsync(d, C));
            await MknodAsync(charSource, 'c', 10, 237);
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "character special file a ed");
            Assert.Contains("c 10:237 rwm", await DevicesListAsync(d, C));

            // Present at a start: there from the start, and still followed (its removal unplugs it).
            await OkAsync(d, "restart", C, "--force");
            Assert.Equal("character special file a ed", await NodeInsideAsync(d, C, "/dev/hlx-opt"));
            File.Delete(charSource);
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "missing");

            // A device removed from the config is no longer followed.
            await OkAsync(d, "config", "device", "remove", C, "blk");
            await MknodAsync(blockSource, 'b', 7, 0);
            await MknodAsync(charSource, 'c', 10, 237);
            await WaitNodeAsync(d, C, "/dev/hlx-opt", "character special file a ed"); // a change seen after the block node's
            Assert.Equal("missing", await NodeInsideAsync(d, C, "/dev/hlx-blk"));
            Assert.DoesNotContain("b 7:0 rwm", await DevicesListAsync(d, C));

            // Stopped: nothing is plugged and nothing fails when the node goes.
            await OkAsync(d, "stop", C, "--force");
            File.Delete(charSource);
            await OkAsync(d, "start", C);
            Assert.Equal("missing", await NodeInsideAsync(d, C, "/dev/hlx-opt"));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
            Directory.Delete(dir, true);
        }
    }
}
