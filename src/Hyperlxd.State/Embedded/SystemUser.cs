using System.Diagnostics;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace Hyperlxd.State.Embedded;

/// <summary>The unprivileged account the database runs as, and how to start a program as it.</summary>
internal sealed record SystemUser(string Name, uint Uid, uint Gid)
{
    public static SystemUser Lookup(string name)
    {
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == name)
            {
                return new SystemUser(name, uint.Parse(f[2]), uint.Parse(f[3]));
            }
        }
        throw new InvalidOperationException($"System user \"{name}\" does not exist (create it: useradd --system --user-group --no-create-home --shell /usr/sbin/nologin {name})");
    }

    public unsafe void Chown(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            if (chown(p, Uid, Gid) != 0)
            {
                throw new IOException($"chown {path} to {Name} failed: errno {errno}");
            }
        }
    }

    /// <summary>True when <paramref name="path"/> exists and is not owned by this user and group.</summary>
    public bool OwnsNot(string path)
    {
        return Owner(path) is { } o && o != (Uid, Gid);
    }

    private static unsafe (uint Uid, uint Gid)? Owner(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        stat st;
        fixed (byte* p = bytes)
        {
            if (lstat(p, &st) != 0)
            {
                return null;
            }
        }
        return ((uint)st.st_uid, (uint)st.st_gid);
    }

    /// <summary>Gives <paramref name="root"/> and everything under it to this user (lchown: links are not followed).</summary>
    public unsafe void ChownTree(string root)
    {
        var entries = new List<string> { root };
        entries.AddRange(Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false }));
        foreach (var path in entries)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
            fixed (byte* p = bytes)
            {
                if (lchown(p, Uid, Gid) != 0)
                {
                    throw new IOException($"chown {path} to {Name} failed: errno {errno}");
                }
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="program"/> as this user through setpriv, which also arms a parent-death
    /// signal (SIGINT: PostgreSQL's fast shutdown) so that a killed daemon leaves no server behind.
    /// </summary>
    public ProcessStartInfo StartInfo(string program, params string[] args)
    {
        var psi = new ProcessStartInfo("setpriv") { UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var a in new[] { $"--reuid={Uid}", $"--regid={Gid}", "--clear-groups", "--pdeathsig=SIGINT", "--", program })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }
        psi.Environment["LANG"] = "C.UTF-8";
        return psi;
    }
}

internal static class Signals
{
    /// <summary>Fast shutdown (SIGINT), then SIGQUIT, then SIGKILL, each after <paramref name="grace"/>.</summary>
    public static async Task StopProcessAsync(int pid, TimeSpan grace, CancellationToken ct)
    {
        foreach (var sig in new[] { SIGINT, SIGQUIT, SIGKILL })
        {
            if (kill(pid, sig) != 0)
            {
                return;
            }
            var deadline = DateTime.UtcNow + grace;
            while (DateTime.UtcNow < deadline)
            {
                if (!IsAlive(pid))
                {
                    return;
                }
                await Task.Delay(20, ct);
            }
        }
    }

    /// <summary>A zombie counts as dead: it holds no resources, it only waits for its parent.</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("State:", StringComparison.Ordinal))
                {
                    return !line.Contains('Z');
                }
            }
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
