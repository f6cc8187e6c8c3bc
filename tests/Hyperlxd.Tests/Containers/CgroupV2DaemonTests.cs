using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Containers;

/// <summary>
/// A daemon of its own with <c>HYPERLXD_CGROUP_BACKEND=cgroup2</c>: containers through the API and lxc
/// in the unified hierarchy, a limit the hierarchy cannot enforce is a 400 that changes nothing, and a
/// SIGKILLed daemon picks its containers up again.
/// </summary>
public sealed partial class CgroupV2DaemonTests
{
    private static string Unified => File.Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";

    [GeneratedRegex(@"^0::/(hyperlxd-[0-9a-f]{8})/v2c$", RegexOptions.Multiline)]
    private static partial Regex V2Membership();

    [Fact]
    public async Task Containers_run_on_cgroup2_and_a_limit_without_its_controller_is_a_400()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync(daemonEnv: new Dictionary<string, string> { ["HYPERLXD_CGROUP_BACKEND"] = "cgroup2" });
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            var launch = await d.LxcAsync("launch", "busybox", "v2c");
            Assert.True(launch.ExitCode == 0, launch.ToString());
            var state = await d.Api.GetAsync("/1.0/instances/v2c/state");
            var pid = state.Metadata.GetProperty("pid").GetInt32();
            var membership = V2Membership().Match(await File.ReadAllTextAsync($"/proc/{pid}/cgroup"));
            Assert.True(membership.Success, "init is not in a cgroup2 group of the daemon: " + await File.ReadAllTextAsync($"/proc/{pid}/cgroup"));
            var group = Path.Combine(Unified, membership.Groups[1].Value, "v2c");
            Assert.True(state.Metadata.GetProperty("processes").GetInt32() >= 1);

            // limits.memory with no memory controller: 400 naming key and controller; config, etag and container unchanged.
            if (!CgroupDetector.Controllers(Unified).Contains("memory"))
            {
                var before = await d.Api.GetAsync("/1.0/instances/v2c");
                var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["config"] = new Dictionary<string, string> { ["limits.memory"] = "64MiB" } });
                var patch = await d.Api.PatchAsync("/1.0/instances/v2c", body);
                Assert.True(patch.Status == HttpStatusCode.BadRequest, patch.ToString());
                Assert.Equal("Failed applying limits.memory: the memory cgroup controller is not available", patch.Error);
                var set = await d.LxcAsync("config", "set", "v2c", "limits.memory=64MiB");
                Assert.NotEqual(0, set.ExitCode);
                Assert.Contains("the memory cgroup controller is not available", set.Stderr);
                var after = await d.Api.GetAsync("/1.0/instances/v2c");
                Assert.Equal(before.Metadata.GetProperty("config").ToString(), after.Metadata.GetProperty("config").ToString());
                Assert.Equal(before.Headers.ETag, after.Headers.ETag);
                Assert.False(File.Exists(Path.Combine(group, "memory.max")));
                Assert.Equal(pid, (await d.Api.GetAsync("/1.0/instances/v2c/state")).Metadata.GetProperty("pid").GetInt32());
            }

            // Pause/resume through cgroup.freeze.
            Assert.Equal(0, (await d.LxcAsync("pause", "v2c")).ExitCode);
            Assert.Contains("frozen 1", await File.ReadAllTextAsync(Path.Combine(group, "cgroup.events")));
            Assert.Equal(0, (await d.LxcAsync("start", "v2c")).ExitCode);
            Assert.Contains("frozen 0", await File.ReadAllTextAsync(Path.Combine(group, "cgroup.events")));
            Assert.Equal(0, (await d.LxcAsync("exec", "v2c", "--", "true")).ExitCode);

            // A SIGKILLed daemon, restarted with the same backend, finds the container in its group.
            await d.KillAsync();
            Assert.True(Directory.Exists($"/proc/{pid}"));
            await d.StartAsync();
            var again = await d.Api.GetAsync("/1.0/instances/v2c/state");
            Assert.Equal(("Running", pid), (again.Metadata.GetProperty("status").GetString(), again.Metadata.GetProperty("pid").GetInt32()));
            Assert.Equal(0, (await d.LxcAsync("pause", "v2c")).ExitCode);
            Assert.Equal("Frozen", (await d.Api.GetAsync("/1.0/instances/v2c/state")).Metadata.GetProperty("status").GetString());

            // Force stop of the frozen container, then delete: no group left.
            var stop = await d.LxcAsync("stop", "--force", "v2c");
            Assert.True(stop.ExitCode == 0, stop.ToString());
            Assert.False(Directory.Exists(group));
            Assert.Equal(0, (await d.LxcAsync("delete", "v2c")).ExitCode);
            Assert.False(Directory.Exists(group));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }

    [Fact]
    public async Task An_unknown_backend_name_stops_the_daemon_before_it_starts()
    {
        var dir = Repo.TempDir("hlxd-test-");
        try
        {
            var r = await ProcessRunner.RunAsync(Repo.DaemonBinary, new[] { "daemon" },
                new Dictionary<string, string> { ["HYPERLXD_DIR"] = dir, ["HYPERLXD_CGROUP_BACKEND"] = "cgroup3" });
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("HYPERLXD_CGROUP_BACKEND: Invalid cgroup backend \"cgroup3\": expected auto, cgroup1 or cgroup2", r.Stderr);
            Assert.False(File.Exists(Path.Combine(dir, "unix.socket")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
