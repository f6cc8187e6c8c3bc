using System.Net;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Daemon;

/// <summary>Each test owns its daemon: these stop, kill and restart it.</summary>
public sealed class DaemonLifecycleTests
{
    [Fact]
    public async Task Profiles_survive_a_restart_and_no_postgres_outlives_the_daemon()
    {
        await using var d = await DaemonProcess.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await d.Api.PostAsync("/1.0/profiles", """{"name":"kept","config":{"limits.cpu":"3"}}""")).Status);
        var postgres = d.PostgresPid;
        Assert.Contains(postgres, d.ProcessesUsingDir());

        await d.StopAsync();
        Assert.Empty(d.ProcessesUsingDir());
        Assert.False(File.Exists(d.Socket));

        await d.StartAsync();
        var r = await d.Api.GetAsync("/1.0/profiles/kept");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        Assert.Equal("3", r.Metadata.GetProperty("config").GetProperty("limits.cpu").GetString());
    }

    [Fact]
    public async Task A_postgres_kill_during_100_writes_loses_no_acknowledged_write()
    {
        await using var d = await DaemonProcess.StartAsync();
        var oldPostgres = d.PostgresPid;
        var acknowledged = new List<string>();
        var failed = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            if (i == 30)
            {
                Assert.Equal(0, Tmds.Linux.LibC.kill(oldPostgres, Tmds.Linux.LibC.SIGKILL));
            }
            var name = $"w{i:000}";
            var r = await d.Api.PostAsync("/1.0/profiles", $$"""{"name":"{{name}}"}""");
            (r.Status == HttpStatusCode.OK ? acknowledged : failed).Add(name);
        }
        Assert.False(d.HasExited, "the daemon must survive a database crash");
        Assert.NotEqual(oldPostgres, d.PostgresPid);
        // Retries hide the restart: every write is acknowledged here, and all of them are present.
        Assert.True(failed.Count == 0, "failed writes: " + string.Join(",", failed) + "\n" + d.Log);
        var present = (await d.Api.GetAsync("/1.0/profiles")).Metadata.EnumerateArray().Select(e => e.GetString()).ToHashSet();
        Assert.All(acknowledged, name => Assert.Contains("/1.0/profiles/" + name, present));
        Assert.Equal(100, acknowledged.Count);
    }

    [Fact]
    public async Task A_killed_daemon_leaves_nothing_the_next_start_cannot_clean()
    {
        await using var d = await DaemonProcess.StartAsync();
        await d.Api.PostAsync("/1.0/profiles", """{"name":"before-crash"}""");
        await d.KillAsync();
        // The parent-death signal stops PostgreSQL; wait for its fast shutdown.
        for (var i = 0; i < 100 && d.ProcessesUsingDir().Count > 0; i++)
        {
            await Task.Delay(100);
        }
        Assert.Empty(d.ProcessesUsingDir());
        Assert.True(File.Exists(d.Socket), "a killed daemon leaves its socket behind");

        await d.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0/profiles/before-crash")).Status);
    }

    [Fact]
    public async Task A_second_daemon_on_the_same_directory_is_refused()
    {
        await using var d = await DaemonProcess.StartAsync();
        var second = await ProcessRunner.RunAsync(Repo.DaemonBinary, new[] { "daemon" }, d.Env, timeout: TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("another hyperlxd daemon", second.Stderr);
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0")).Status);
    }

    [Fact]
    public async Task A_lock_held_by_a_process_that_is_no_daemon_is_waited_for_not_refused()
    {
        await using var d = DaemonProcess.Create();
        // What a killed daemon leaves while the kernel tears it down: the lock still held, and the
        // pid in it no longer a running daemon.
        using var gone = System.Diagnostics.Process.Start("true")!;
        await gone.WaitForExitAsync();
        var holder = new FileStream(Path.Combine(d.Dir, "daemon.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        try
        {
            holder.Write(System.Text.Encoding.ASCII.GetBytes($"{gone.Id}\n"));
            holder.Flush();
            var start = d.StartAsync();
            using (var wait = new CancellationTokenSource(TimeSpan.FromMinutes(2)))
            {
                while (!d.Log.Contains("Waiting for the previous daemon", StringComparison.Ordinal))
                {
                    Assert.False(start.IsCompleted, "the start did not wait for the lock: " + d.Log);
                    await Task.Delay(50, wait.Token);
                }
            }
            Assert.False(d.HasExited, d.Log);
            holder.Dispose();
            await start;
        }
        finally
        {
            holder.Dispose();
        }
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0")).Status);
        // (Read with cat: .NET would take a shared flock to read and fail against the daemon's.)
        var recorded = await ProcessRunner.RunAsync("cat", new[] { Path.Combine(d.Dir, "daemon.lock") });
        Assert.Equal(d.Pid.ToString(), recorded.Stdout.Trim());
    }

    [Fact]
    public async Task Init_preseed_applies_everything_or_nothing()
    {
        await using var d = await DaemonProcess.StartAsync();
        var port = Repo.FreeTcpPort();
        var good = $$"""
            config:
              core.https_address: "127.0.0.1:{{port}}"
              user.site: lab
            profiles:
            - name: default
              description: Preseeded default
              config:
                limits.cpu: "2"
            - name: web
              config:
                limits.memory: 256MiB
              devices:
                root: {type: disk, path: /, pool: default}
            """;
        var r = await d.HyperlxdAsync(good, "init", "--preseed");
        Assert.True(r.ExitCode == 0, r.ToString());
        var server = (await d.Api.GetAsync("/1.0")).Metadata;
        Assert.Equal("lab", server.GetProperty("config").GetProperty("user.site").GetString());
        Assert.Equal($"127.0.0.1:{port}", server.GetProperty("environment").GetProperty("addresses")[0].GetString());
        Assert.Equal("2", (await d.Api.GetAsync("/1.0/profiles/default")).Metadata.GetProperty("config").GetProperty("limits.cpu").GetString());
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0/profiles/web")).Status);

        // The second profile is invalid: the first one must not stay created, nor the default changed.
        var bad = """
            config:
              user.site: other
            profiles:
            - name: db
            - name: default
              config:
                limits.cpu: "1"
            - name: broken
              config:
                no.such.key: "1"
            """;
        r = await d.HyperlxdAsync(bad, "init", "--preseed");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no.such.key", r.Stderr);
        Assert.Equal(HttpStatusCode.NotFound, (await d.Api.GetAsync("/1.0/profiles/db")).Status);
        Assert.Equal("2", (await d.Api.GetAsync("/1.0/profiles/default")).Metadata.GetProperty("config").GetProperty("limits.cpu").GetString());
        Assert.Equal("lab", (await d.Api.GetAsync("/1.0")).Metadata.GetProperty("config").GetProperty("user.site").GetString());

        // A pool created by the preseed is removed again when a later step fails.
        r = await d.HyperlxdAsync("storage_pools:\n- name: pp\n  driver: dir\nprofiles:\n- name: bad\n  config:\n    nope: x\n", "init", "--preseed");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("nope", r.Stderr);
        Assert.Equal(HttpStatusCode.NotFound, (await d.Api.GetAsync("/1.0/storage-pools/pp")).Status);

        // Networks are supported now (the daemon runs in its own network namespace): a network created by
        // the preseed is removed again when a later step fails, as pools are.
        r = await d.HyperlxdAsync("networks:\n- name: br0\n  config:\n    ipv6.address: none\nprofiles:\n- name: bad\n  config:\n    nope: x\n", "init", "--preseed");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("nope", r.Stderr);
        Assert.Equal(HttpStatusCode.NotFound, (await d.Api.GetAsync("/1.0/networks/br0")).Status);

        // --auto: like lxd init --auto, a default dir pool and a root disk in the default profile.
        r = await d.HyperlxdAsync(null, "init", "--auto", "--trust-password", "pw");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True((await d.Api.GetAsync("/1.0")).Metadata.GetProperty("config").GetProperty("core.trust_password").GetBoolean());
        Assert.Equal("dir", (await d.Api.GetAsync("/1.0/storage-pools/default")).Metadata.GetProperty("driver").GetString());
        var root = (await d.Api.GetAsync("/1.0/profiles/default")).Metadata.GetProperty("devices").GetProperty("root");
        Assert.Equal("default", root.GetProperty("pool").GetString());
        // ... and lxdbr0 with eth0 on it, as lxd init --auto does when no managed network exists.
        Assert.True((await d.Api.GetAsync("/1.0/networks/lxdbr0")).Metadata.GetProperty("managed").GetBoolean());
        var eth0 = (await d.Api.GetAsync("/1.0/profiles/default")).Metadata.GetProperty("devices").GetProperty("eth0");
        Assert.Equal("lxdbr0", eth0.GetProperty("network").GetString());
    }

    [Fact]
    public async Task Https_listener_follows_the_config_and_a_busy_port_is_refused()
    {
        // On the host's network: the port is made busy by this process's own listener.
        await using var d = await DaemonProcess.StartAsync(hostNetwork: true);
        using var blocker = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        blocker.Start();
        var busy = ((IPEndPoint)blocker.LocalEndpoint).Port;
        var r = await d.Api.PatchAsync("/1.0", $$$"""{"config":{"core.https_address":"127.0.0.1:{{{busy}}}"}}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains($"127.0.0.1:{busy}", r.Error);
        Assert.False((await d.Api.GetAsync("/1.0")).Metadata.GetProperty("config").TryGetProperty("core.https_address", out _));

        var port = Repo.FreeTcpPort();
        r = await d.Api.PatchAsync("/1.0", $$$"""{"config":{"core.https_address":"127.0.0.1:{{{port}}}"}}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        using (var https = ApiClient.Https(port))
        {
            Assert.Equal("untrusted", (await https.GetAsync("/1.0")).Metadata.GetProperty("auth").GetString());
        }
        r = await d.Api.PatchAsync("/1.0", """{"config":{"core.https_address":""}}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        using var gone = ApiClient.Https(port);
        await Assert.ThrowsAsync<HttpRequestException>(() => gone.GetAsync("/1.0"));
    }

    [Fact]
    public async Task A_stopped_daemon_takes_its_empty_parent_cgroup_along_and_keeps_one_that_holds_a_container()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync();
        await d.PrepareContainersAsync(ImageFixture.Busybox);
        var launch = await d.LxcAsync("launch", "busybox", "pc1");
        Assert.True(launch.ExitCode == 0, launch.ToString());
        var pid = (await d.Api.GetAsync("/1.0/instances/pc1/state")).Metadata.GetProperty("pid").GetInt32();
        // The parent as the kernel names it: pids:/PARENT/pc1.
        var pids = File.ReadLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).First(f => f[1] == "pids")[2];
        var parent = Path.Combine("/sys/fs/cgroup/pids", pids.Trim('/').Split('/')[0]);
        Assert.True(Directory.Exists(Path.Combine(parent, "pc1")), parent);

        // A running container keeps it (and keeps running).
        await d.StopAsync();
        Assert.True(Directory.Exists(Path.Combine(parent, "pc1")));
        Assert.True(Directory.Exists($"/proc/{pid}"), "the container died with the daemon");

        await d.StartAsync();
        var delete = await d.LxcAsync("delete", "--force", "pc1");
        Assert.True(delete.ExitCode == 0, delete.ToString());
        Assert.True(Directory.Exists(parent), "the parent goes with the daemon, not with its last container");
        await d.StopAsync();
        Assert.False(Directory.Exists(parent), $"{parent} outlived its daemon");
    }
}
