using System.Net;
using Hyperlxd.Tests.Infrastructure;
using static Tmds.Linux.LibC;

namespace Hyperlxd.Tests.State;

/// <summary>
/// A database that stops answering (its processes SIGSTOPped, as a stalled host or disk would
/// leave it): requests end with 503 "database unavailable" once <c>database.timeout</c> has
/// passed instead of hanging, and work again as soon as it answers, on the same server.
/// </summary>
public sealed class DatabaseStallTests
{
    [Fact]
    public async Task A_stopped_postgres_answers_503_database_unavailable_and_the_next_request_after_SIGCONT_succeeds()
    {
        var dir = Repo.TempDir("hlxd-test-");
        await File.WriteAllTextAsync(Path.Combine(dir, "daemon.yaml"), "database.timeout: 3\n");
        await using var d = await DaemonProcess.StartAsync(dir);
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0/profiles")).Status); // the pool holds live connections
        var postmaster = d.PostgresPid;
        var stopped = new List<int>();
        try
        {
            // The postmaster first, so that it forks no backend we would miss, then every child.
            Assert.Equal(0, kill(postmaster, SIGSTOP));
            stopped.Add(postmaster);
            foreach (var child in ChildrenOf(postmaster))
            {
                if (kill(child, SIGSTOP) == 0)
                {
                    stopped.Add(child);
                }
            }
            Assert.True(stopped.Count > 1, "no backend found under the postmaster");

            // Generous test-side bounds: the daemon's own 3 s timeout is what ends these.
            var read = await d.Api.GetAsync("/1.0/profiles").WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(read.Status == HttpStatusCode.ServiceUnavailable, read.ToString());
            Assert.StartsWith("database unavailable: ", read.Error);
            var write = await d.Api.PostAsync("/1.0/profiles", """{"name":"stall-p"}""").WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(write.Status == HttpStatusCode.ServiceUnavailable, write.ToString());
            Assert.StartsWith("database unavailable: ", write.Error);
        }
        finally
        {
            foreach (var pid in stopped)
            {
                _ = kill(pid, SIGCONT); // cleanup: a process that already exited is fine
            }
        }

        var again = await d.Api.GetAsync("/1.0/profiles").WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(again.Status == HttpStatusCode.OK, again.ToString());
        var create = await d.Api.PostAsync("/1.0/profiles", """{"name":"stall-p"}""").WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(create.Status == HttpStatusCode.OK, create.ToString());
        Assert.Equal(HttpStatusCode.OK, (await d.Api.GetAsync("/1.0/profiles/stall-p")).Status);
        // A stopped server is not a dead one: the supervisor left it alone.
        Assert.Equal(postmaster, d.PostgresPid);
        Assert.False(d.HasExited);
    }

    private static List<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var proc in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out var pid))
            {
                continue;
            }
            try
            {
                var stat = File.ReadAllText(Path.Combine(proc, "stat"));
                // "pid (comm) state ppid ...": comm may hold spaces.
                if (int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]) == parent)
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
            }
        }
        return children;
    }
}
