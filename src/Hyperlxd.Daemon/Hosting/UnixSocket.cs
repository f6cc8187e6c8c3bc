using System.Net.Sockets;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Daemon.Hosting;

public static class UnixSocket
{
    /// <summary>
    /// Refuses to start over a live socket (another daemon owns this directory) and removes a stale
    /// one left by a crash, which would otherwise make the bind fail.
    /// </summary>
    public static void ClaimPath(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            throw new InvalidOperationException($"Another daemon is already listening on {path}");
        }
        catch (SocketException)
        {
            File.Delete(path);
        }
    }

    /// <summary>Socket mode 0660, group <paramref name="group"/>: root and the group's members may use the API.</summary>
    public static void GrantGroup(string path, string group)
    {
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        var gid = HostAccounts.GroupId(group);
        if (gid is null)
        {
            return;
        }
        Syscalls.Chown(path, uint.MaxValue, gid.Value);
    }
}

/// <summary>
/// The host accounts the daemon needs: the socket's group (API access) and the database's own system
/// user and group. They must stay apart: the database account is not in the socket's group, so a
/// compromised PostgreSQL cannot reach the API.
/// </summary>
public static class HostAccounts
{
    public static uint? GroupId(string group) => GroupEntry(group)?.Gid;

    private static (uint Gid, string[] Members)? GroupEntry(string group)
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == group)
            {
                return (uint.Parse(f[2]), f[3].Split(',', StringSplitOptions.RemoveEmptyEntries));
            }
        }
        return null;
    }

    private static uint? PrimaryGid(string user) =>
        File.ReadLines("/etc/passwd").Select(l => l.Split(':')).Where(f => f.Length >= 4 && f[0] == user)
            .Select(f => (uint?)uint.Parse(f[3])).FirstOrDefault();

    /// <summary>
    /// Creates the socket group and the database's login-less system user (with a group of its own) when
    /// missing, as a package's postinst would, and refuses a database user that is in the socket's group.
    /// </summary>
    public static async Task EnsureAsync(string socketGroup, string databaseUser)
    {
        if (GroupId(socketGroup) is null)
        {
            await RunUnlessDoneAsync(() => GroupId(socketGroup) is not null, "groupadd", "--system", socketGroup);
        }
        if (PrimaryGid(databaseUser) is null)
        {
            await RunUnlessDoneAsync(() => PrimaryGid(databaseUser) is not null, "useradd", "--system", "--user-group", "--no-create-home",
                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "Hyperlxd embedded database", databaseUser);
        }
        var socket = GroupEntry(socketGroup)!.Value;
        if (PrimaryGid(databaseUser) == socket.Gid || socket.Members.Contains(databaseUser))
        {
            throw new InvalidOperationException(
                $"The database user \"{databaseUser}\" is in the API socket's group \"{socketGroup}\": a compromised database would control the API. Give it a group of its own (usermod -g {databaseUser} {databaseUser}; gpasswd -d {databaseUser} {socketGroup})");
        }
    }

    /// <summary>Two daemons starting at once may race to create an account: losing that race is fine.</summary>
    private static async Task RunUnlessDoneAsync(Func<bool> done, string program, params string[] args)
    {
        try
        {
            await HostCommand.RunAsync(program, args);
        }
        catch (HostCommandFailedException) when (done())
        {
        }
    }
}
