using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Security;

/// <summary>
/// Issue 9 finding 7: the account running the embedded PostgreSQL used to be in the API socket's group,
/// so a compromised database was API root. It now has its own user and group.
/// </summary>
public sealed class DatabaseAccountTests : IAsyncLifetime
{
    private DaemonProcess _daemon = null!;

    public async Task InitializeAsync() => _daemon = await DaemonProcess.StartAsync();

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private static Dictionary<string, string> Status(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1].Trim());

    private static async Task<uint> SocketGidAsync(string socket) =>
        uint.Parse((await ProcessRunner.RunAsync("stat", new[] { "-c", "%g", socket })).Stdout.Trim());

    [Fact]
    public async Task Postgres_runs_outside_the_socket_group_and_cannot_connect_to_the_api()
    {
        var socketGid = await SocketGidAsync(_daemon.Socket);
        Assert.Equal((await ProcessRunner.RunAsync("getent", new[] { "group", "hyperlxd" })).Stdout.Split(':')[2], socketGid.ToString());

        // The postmaster and every backend it forked.
        var pids = new List<int> { _daemon.PostgresPid };
        pids.AddRange(Directory.GetDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(n => int.Parse(n!))
            .Where(p => File.Exists($"/proc/{p}/status") && Status(p).GetValueOrDefault("PPid") == _daemon.PostgresPid.ToString()));
        Assert.True(pids.Count > 1, "postgres has its auxiliary processes");
        string uid = "", gid = "", groups = "";
        foreach (var pid in pids)
        {
            var st = Status(pid);
            var gids = st["Gid"].Split('\t').Concat(st["Groups"].Split(' ', StringSplitOptions.RemoveEmptyEntries));
            Assert.DoesNotContain(socketGid.ToString(), gids);
            Assert.DoesNotContain("0", st["Uid"].Split('\t'));
            (uid, gid, groups) = (st["Uid"].Split('\t')[0], st["Gid"].Split('\t')[0], st["Groups"]);
        }
        var user = (await ProcessRunner.RunAsync("id", new[] { "-nu", uid })).Stdout.Trim();
        Assert.Equal("hyperlxd-db", user);
        Assert.DoesNotContain("hyperlxd", (await ProcessRunner.RunAsync("id", new[] { "-nG", user })).Stdout.Split(' ', StringSplitOptions.TrimEntries));

        // A process with exactly the database's credentials is refused by the socket (EACCES).
        var probe = $"import socket,sys\ns=socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1]); print('connected')\nexcept PermissionError:\n    print('EACCES')\n";
        var args = new List<string> { $"--reuid={uid}", $"--regid={gid}" };
        args.Add(groups.Length == 0 ? "--clear-groups" : "--groups=" + groups.Replace(' ', ','));
        args.AddRange(new[] { "--", "/usr/bin/python3", "-c", probe, _daemon.Socket });
        var r = await ProcessRunner.RunAsync("setpriv", args);
        Assert.True(r.Stdout.Trim() == "EACCES", r.ToString());

        // The socket's own group can: the probe is not broken.
        args[1] = $"--regid={socketGid}";
        args[2] = "--clear-groups";
        r = await ProcessRunner.RunAsync("setpriv", args);
        Assert.True(r.Stdout.Trim() == "connected", r.ToString());
    }

    [Fact]
    public async Task A_database_left_by_an_older_install_is_handed_to_the_database_user_at_start()
    {
        await _daemon.StopAsync();
        var db = Path.Combine(_daemon.Dir, "database");
        // The old layout: owned by the account that is also the socket's group.
        var chown = await ProcessRunner.RunAsync("chown", new[] { "-R", "nobody:hyperlxd", db });
        Assert.True(chown.ExitCode == 0, chown.ToString());
        await _daemon.StartAsync();
        Assert.Equal("OK", await _daemon.QueryScalarAsync("SELECT 'OK'"));
        var owners = await ProcessRunner.RunAsync("find", new[] { db, "-not", "-user", "hyperlxd-db", "-not", "-name", "postgres.log" });
        Assert.True(owners.Stdout.Trim() == "", "not handed over: " + owners.Stdout);
        var groups = await ProcessRunner.RunAsync("find", new[] { db, "-group", "hyperlxd" });
        Assert.True(groups.Stdout.Trim() == "", "still in the socket's group: " + groups.Stdout);
    }
}
