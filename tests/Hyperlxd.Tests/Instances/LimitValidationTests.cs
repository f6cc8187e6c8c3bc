using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// Issue 9, finding 9: limits the host cannot apply are a 400 naming the key when they are set —
/// on stopped and running instances and in profiles — not a cgroup error at start (or a 500 live).
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LimitValidationTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;
    private ApiClient Api => D.Api;

    public static readonly TheoryData<string, string> Invalid = new()
    {
        { "limits.cpu", "3-1" },
        { "limits.cpu", "0-999" },
        { "limits.cpu", "9999999999999999999" },
        { "limits.cpu", "0,0" },
        { "limits.cpu", "0" },
        { "limits.cpu.allowance", "0ms/0ms" },
        { "limits.cpu.allowance", "10ms/5000ms" },
        { "limits.cpu.allowance", "0%" },
        { "limits.memory", "0" },
        { "limits.memory", "1B" },
        { "limits.memory", "0%" },
        { "limits.memory", "99999999999999999999999GB" },
    };

    private async Task<(string Config, string ETag)> SnapshotAsync(string path)
    {
        var r = await Api.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, r.Status);
        return (r.Metadata.GetProperty("config").GetRawText(), r.Headers.ETag?.Tag ?? "");
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task An_invalid_limit_is_a_400_naming_the_key_on_stopped_and_running_instances_and_profiles(string key, string value)
    {
        var suffix = Math.Abs(HashCode.Combine(key, value)) % 100000;
        var (stopped, running, profile) = ($"lim-s{suffix}", $"lim-r{suffix}", $"lim-p{suffix}");
        await fixture.LxcOkAsync("init", "busybox", stopped);
        await using var s = new LaunchedContainer(fixture, stopped);
        await using var r = await fixture.LaunchAsync(running);
        await fixture.LxcOkAsync("profile", "create", profile);
        try
        {
            var pid = await fixture.InitPidAsync(running);
            foreach (var path in new[] { "/1.0/instances/" + stopped, "/1.0/instances/" + running, "/1.0/profiles/" + profile })
            {
                var before = await SnapshotAsync(path);
                var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["config"] = new Dictionary<string, string> { [key] = value } });
                var patch = await Api.PatchAsync(path, body);
                Assert.True(patch.Status == HttpStatusCode.BadRequest, $"{path} {key}={value}: {patch}");
                Assert.Contains(key, patch.Error);
                Assert.Equal(before, await SnapshotAsync(path));
            }
            foreach (var args in new[] { new[] { "config", "set", stopped, key, value }, ["config", "set", running, key, value], ["profile", "set", profile, key, value] })
            {
                var set = await D.LxcAsync(args);
                Assert.True(set.ExitCode != 0, $"lxc {string.Join(' ', args)}: {set}");
                Assert.Contains(key, set.Stderr);
            }

            // Nothing changed: the running one runs on, the stopped one starts.
            Assert.Equal(pid, await fixture.InitPidAsync(running));
            await fixture.LxcOkAsync("start", stopped);
            Assert.Equal(0, (await D.LxcAsync("exec", stopped, "--", "true")).ExitCode);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", stopped);
            await D.LxcAsync("delete", "--force", running);
            await D.LxcAsync("profile", "delete", profile);
        }
    }

    [Fact]
    public async Task Limits_the_host_can_apply_pass_and_a_count_beyond_its_CPUs_means_all_of_them()
    {
        var online = File.ReadAllText("/sys/devices/system/cpu/online").Trim();
        await using var c = await fixture.LaunchAsync("lim-ok");
        foreach (var (key, value) in new[] { ("limits.cpu", online), ("limits.cpu", "1000"), ("limits.cpu.allowance", "1ms/1000ms"), ("limits.memory", "32MiB"), ("limits.memory", "64MiB") })
        {
            await fixture.LxcOkAsync("config", "set", c.Name, key, value);
        }
        await fixture.LxcOkAsync("restart", "--force", c.Name);
        Assert.Equal(0, (await D.LxcAsync("exec", c.Name, "--", "true")).ExitCode);
        Assert.Equal("1000", (await fixture.LxcOkAsync("config", "get", c.Name, "limits.cpu")).Trim());
    }
}
