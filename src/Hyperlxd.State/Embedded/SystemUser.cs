using Hyperlxd.Interop.Linux;

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

    public void Chown(string path) => Syscalls.Chown(path, Uid, Gid);

    /// <summary>True when <paramref name="path"/> exists and is not owned by this user and group.</summary>
    public bool OwnsNot(string path)
    {
        return Owner(path) is { } o && o != (Uid, Gid);
    }

    private static (uint Uid, uint Gid)? Owner(string path) => Syscalls.TryLStat(path, out var st) ? (st.Uid, st.Gid) : null;

    /// <summary>Gives <paramref name="root"/> and everything under it to this user (lchown: links are not followed).</summary>
    public void ChownTree(string root)
    {
        var entries = new List<string> { root };
        entries.AddRange(Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false }));
        foreach (var path in entries)
        {
            Syscalls.Lchown(path, Uid, Gid);
        }
    }

    /// <summary>
    /// How to run a program as this user (through setpriv), which also arms a parent-death
    /// signal (SIGINT: PostgreSQL's fast shutdown) so that a killed daemon leaves no server behind.
    /// </summary>
    public HostCommandOptions CommandOptions()
    {
        // The daemon's PG* variables (a test's PGHOST...) must not steer the server or initdb.
        var env = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(k => k.StartsWith("PG", StringComparison.Ordinal))
            .ToDictionary(k => k, string? (_) => null, StringComparer.Ordinal);
        env["LANG"] = "C.UTF-8";
        return new HostCommandOptions { User = (Uid, Gid), ParentDeathSignal = "SIGINT", WorkingDirectory = "/", Environment = env };
    }
}

internal static class Signals
{
    /// <summary>Fast shutdown (SIGINT), then SIGQUIT, then SIGKILL, each after <paramref name="grace"/>.</summary>
    public static async Task StopProcessAsync(int pid, TimeSpan grace, CancellationToken ct)
    {
        foreach (var sig in new[] { Signal.Interrupt, Signal.Quit, Signal.Kill })
        {
            if (!Syscalls.Kill(pid, sig))
            {
                return; // gone
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
