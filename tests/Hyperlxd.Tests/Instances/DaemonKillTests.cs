using System.Net;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// A daemon of its own (it gets SIGKILLed): running containers survive and are picked up again;
/// creates cut short are removed, and an immediate restart is not refused by the dead daemon's lock.
/// </summary>
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

    [Fact]
    public async Task Kill_9_during_concurrent_launches_then_immediate_restart_starts_and_no_instance_is_half_made()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            // The pool's copy of the image is made by a first launch: the kill below hits instance creates.
            var warm = await d.LxcAsync("launch", "busybox", "kl-warm");
            Assert.True(warm.ExitCode == 0, warm.ToString());
            // Batches of concurrent launches until a kill can land while a create is under way (its
            // row still marked as being created); a create from the pool's ready copy takes
            // milliseconds, so one batch may finish before the poll sees it.
            var launches = new Dictionary<string, Task<ProcessResult>> { ["kl-warm"] = Task.FromResult(warm) };
            await using (var db = await d.OpenDatabaseAsync())
            {
                for (var batch = 0; ; batch++)
                {
                    Assert.True(batch < 5, "no create was ever seen in flight\n" + d.Log);
                    var started = Enumerable.Range(0, 8).Select(i => $"kl{batch}-{i}").ToList();
                    started.ForEach(n => launches[n] = d.LxcAsync("launch", "busybox", n));
                    var seen = false;
                    while (!seen && !started.All(n => launches[n].IsCompleted))
                    {
                        seen = await DaemonProcess.QueryScalarAsync(db, "SELECT count(*) FROM instances WHERE creating") != "0";
                    }
                    if (seen)
                    {
                        break;
                    }
                }
            }
            var names = launches.Keys.ToArray();
            // SIGKILL and start again at once, without waiting for the old process to be reaped.
            Assert.Equal(0, Tmds.Linux.LibC.kill(d.Pid, Tmds.Linux.LibC.SIGKILL));
            await d.StartAsync();
            var results = new Dictionary<string, ProcessResult>();
            foreach (var (n, t) in launches)
            {
                results[n] = await t;
            }

            var unfinished = await d.QueryScalarAsync("SELECT count(*) FROM instances WHERE creating");
            Assert.True(unfinished == "0", $"{unfinished} creates unfinished after the restart\n{string.Join('\n', results.Select(r => $"{r.Key}: {r.Value}"))}\n{d.Log}");
            var listed = (await d.Api.GetAsync("/1.0/instances")).Metadata.EnumerateArray()
                .Select(e => e.GetString()!).Select(u => u[(u.LastIndexOf('/') + 1)..]).ToHashSet();
            Assert.Subset(names.ToHashSet(), listed);
            foreach (var n in names.Where(n => results[n].ExitCode == 0))
            {
                Assert.Contains(n, listed);
            }
            // Every instance that exists is complete: it starts (if the kill caught it before its
            // start) and runs commands; one whose client saw an error is either complete or gone.
            foreach (var n in listed)
            {
                var status = (await d.Api.GetAsync($"/1.0/instances/{n}/state")).Metadata.GetProperty("status").GetString();
                if (status != "Running")
                {
                    var start = await d.LxcAsync("start", n);
                    Assert.True(start.ExitCode == 0, $"{n} ({results[n]}): {start}");
                }
                var exec = await d.LxcAsync("exec", n, "--", "sh", "-c", "echo alive-$((1+1)); exit 3");
                Assert.True(exec.ExitCode == 3, $"{n}: {exec}");
                Assert.Equal("alive-2", exec.Stdout.Trim());
            }
            // Nothing is left of the removed ones: no volume row or directory, state dir, or cgroup.
            var volumes = await d.QueryScalarAsync("SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM storage_volumes WHERE type = 'container'");
            Assert.Equal(string.Join(',', listed.Order(StringComparer.Ordinal)), volumes);
            var pool = Path.Combine(d.Dir, "storage-pools", "default", "containers");
            // (".spare-*" are the pool's ready copies for the next create, not instances.)
            Assert.Equal(listed.Order(StringComparer.Ordinal), Directory.GetDirectories(pool).Select(p => Path.GetFileName(p)!)
                .Where(n => !n.StartsWith(".spare-", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
            var stateDirs = Path.Combine(d.Dir, "instances");
            Assert.Subset(listed, Directory.GetDirectories(stateDirs).Select(p => Path.GetFileName(p)!).ToHashSet());
            var parent = Path.Combine("/sys/fs/cgroup/pids", "hyperlxd-" + Convert.ToHexStringLower(
                System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(d.Dir)))[..8]);
            Assert.True(listed.Count == 0 || Directory.Exists(Path.Combine(parent, listed.First())), parent);
            if (Directory.Exists(parent))
            {
                Assert.Subset(listed, Directory.GetDirectories(parent).Select(p => Path.GetFileName(p)!).ToHashSet());
            }
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }
}
