using System.Net.Sockets;
using System.Text;
using static Tmds.Linux.LibC;

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
    public static unsafe void GrantGroup(string path, string group)
    {
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        var gid = HostAccounts.GroupId(group);
        if (gid is null)
        {
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            if (chown(p, uint.MaxValue, gid.Value) != 0)
            {
                throw new IOException($"chown {path} to group {group} failed: errno {errno}");
            }
        }
    }
}

/// <summary>The host accounts the daemon needs: its socket group and the database's system user.</summary>
public static class HostAccounts
{
    public static uint? GroupId(string group)
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var f = line.Split(':');
            if (f.Length >= 3 && f[0] == group)
            {
                return uint.Parse(f[2]);
            }
        }
        return null;
    }

    private static bool UserExists(string user) =>
        File.ReadLines("/etc/passwd").Any(l => l.StartsWith(user + ":", StringComparison.Ordinal));

    /// <summary>Creates the group and the (login-less) system user when missing, as a package's postinst would.</summary>
    public static void Ensure(string group, string user)
    {
        if (GroupId(group) is null)
        {
            Run("groupadd", "--system", group);
        }
        if (!UserExists(user))
        {
            Run("useradd", "--system", "--gid", group, "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", user);
        }
    }

    private static void Run(string program, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {err.Trim()}");
        }
    }
}
