using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// The daemon's open file descriptors stay flat across many execs and file transfers: every pipe,
/// pty, pidfd and socket a request opens is closed when it ends (not when a GC finalizes it).
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class FdLeakTests(ContainerDaemon fixture, ITestOutputHelper output)
{
    private const int Rounds = 50;
    // Pools, the HTTP server and the embedded database may open a few fds lazily; a leak grows by Rounds.
    private const int Slack = 12;

    private DaemonProcess D => fixture.Daemon;

    [Fact]
    public async Task Fifty_execs_and_file_transfers_leave_the_daemon_fd_count_flat()
    {
        await using var c = await fixture.LaunchAsync("fd-leak");
        // Warm up every path once so lazily created pools and caches are in the baseline.
        await RoundAsync(c.Name, 0);
        await RoundAsync(c.Name, 1);
        var before = await SettledFdsAsync(int.MaxValue);

        for (var i = 2; i < Rounds + 2; i++)
        {
            await RoundAsync(c.Name, i);
        }

        var after = await SettledFdsAsync(before.Count + Slack);
        output.WriteLine($"daemon fds: {before.Count} before, {after.Count} after {Rounds} rounds");
        Assert.True(after.Count <= before.Count + Slack,
            $"daemon fds grew from {before.Count} to {after.Count} over {Rounds} rounds; new: {string.Join(", ", Grown(before, after))}");
    }

    /// <summary>One of each: an API exec without websockets, an lxc exec over websockets, a push and a pull.</summary>
    private async Task RoundAsync(string name, int i)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["command"] = new[] { "sh", "-c", $"echo out{i}; echo err{i} >&2; exit {i % 3}" },
            ["wait-for-websocket"] = false,
            ["interactive"] = false,
            ["environment"] = new Dictionary<string, string>(),
        });
        var r = await D.Api.PostAsync($"/1.0/instances/{name}/exec", body);
        Assert.True(r.Status == HttpStatusCode.Accepted, r.ToString());
        var w = await D.Api.GetAsync(r.Body.GetProperty("operation").GetString()! + "/wait?timeout=60");
        Assert.Equal(i % 3, w.Metadata.GetProperty("metadata").GetProperty("return").GetInt32());

        var lxc = await D.LxcAsync("exec", name, "--", "sh", "-c", $"echo hi{i}");
        Assert.True(lxc.ExitCode == 0 && lxc.Stdout.Trim() == $"hi{i}", lxc.ToString());

        using var content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes($"file {i}\n"));
        var push = await D.Api.SendContentAsync(HttpMethod.Post, $"/1.0/instances/{name}/files?path=/root/f{i % 4}", content,
            new() { ["X-LXD-type"] = "file", ["X-LXD-write"] = "overwrite" });
        Assert.True(push.Status == HttpStatusCode.OK, push.ToString());
        using var pull = await D.Api.RawAsync($"/1.0/instances/{name}/files?path=/root/f{i % 4}");
        Assert.Equal($"file {i}\n", await pull.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// The daemon's fds (target of each link), once the count is at most <paramref name="goal"/> or has
    /// stopped moving: an exec's last fds close a moment after its operation reports done.
    /// </summary>
    private async Task<List<string>> SettledFdsAsync(int goal)
    {
        var fds = Fds();
        for (var i = 0; i < 40 && fds.Count > goal; i++)
        {
            await Task.Delay(250);
            fds = Fds();
        }
        return fds;
    }

    private List<string> Fds()
    {
        var list = new List<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{D.Pid}/fd"))
        {
            try
            {
                list.Add(new FileInfo(fd).LinkTarget ?? "?");
            }
            catch (IOException)
            {
                // closed while we listed
            }
        }
        return list;
    }

    /// <summary>Kinds of fd (pipe, socket, anon_inode:[pidfd], file path) that grew, with how many more.</summary>
    private static IEnumerable<string> Grown(List<string> before, List<string> after)
    {
        static string Kind(string target) => target.Split(':')[0] is var k && k.Length < target.Length ? k + ":" : target;
        var old = before.GroupBy(Kind).ToDictionary(g => g.Key, g => g.Count());
        return after.GroupBy(Kind)
            .Select(g => (g.Key, More: g.Count() - old.GetValueOrDefault(g.Key)))
            .Where(x => x.More > 0)
            .Select(x => $"{x.Key} +{x.More}");
    }
}
