using System.Net;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>A daemon of its own (it gets SIGKILLed): running containers survive and are picked up again.</summary>
public sealed class DaemonKillTests
{
    [Fact]
    public async Task Kill_9_with_ten_running_containers_then_restart_all_running_and_exec_works()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            var names = Enumerable.Range(0, 10).Select(i => $"k{i}").ToArray();
            foreach (var n in names)
            {
                var r = await d.LxcAsync("launch", "busybox", n);
                Assert.True(r.ExitCode == 0, r.ToString());
            }
            var pids = new Dictionary<string, int>();
            foreach (var n in names)
            {
                pids[n] = (await d.Api.GetAsync($"/1.0/instances/{n}/state")).Metadata.GetProperty("pid").GetInt32();
            }

            await d.KillAsync();
            // The containers do not depend on the daemon process.
            Assert.All(names, n => Assert.True(Directory.Exists($"/proc/{pids[n]}"), $"{n} died with the daemon"));
            await d.StartAsync();

            var list = await d.LxcAsync("list", "-c", "ns", "--format", "csv");
            Assert.True(list.ExitCode == 0, list.ToString());
            foreach (var n in names)
            {
                Assert.Contains($"{n},RUNNING", list.Stdout);
                var state = await d.Api.GetAsync($"/1.0/instances/{n}/state");
                Assert.Equal(HttpStatusCode.OK, state.Status);
                Assert.Equal("Running", state.Metadata.GetProperty("status").GetString());
                Assert.Equal(pids[n], state.Metadata.GetProperty("pid").GetInt32());
                var exec = await d.LxcAsync("exec", n, "--", "sh", "-c", "echo alive-$((1+1)); exit 4");
                Assert.Equal(4, exec.ExitCode);
                Assert.Equal("alive-2", exec.Stdout.Trim());
            }
            // Lifecycle still works on adopted containers.
            var stop = await d.LxcAsync("stop", "--force", "k0");
            Assert.True(stop.ExitCode == 0, stop.ToString());
            Assert.False(Directory.Exists($"/proc/{pids["k0"]}"));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }
}
