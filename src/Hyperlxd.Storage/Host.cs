using Hyperlxd.Core;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Storage;

/// <summary>Host tools (btrfs-progs, util-linux, coreutils) as child processes; none of them is on a per-request hot path except cp/btrfs snapshot.</summary>
internal static class Host
{
    private static readonly HostCommandOptions Options = new() { Environment = new Dictionary<string, string?> { ["LC_ALL"] = "C" } };

    /// <summary>
    /// Runs a tool to completion (killed with the daemon: a copy must not go on writing into a volume the
    /// next daemon deletes); its stdout. A failure is a <see cref="HostCommandException"/> carrying its stderr.
    /// </summary>
    public static async Task<string> RunAsync(string file, params string[] args)
    {
        try
        {
            return await HostCommand.RunAsync(file, args, Options);
        }
        catch (HostCommandFailedException e)
        {
            throw new HostCommandException(e.Message);
        }
    }

    private static readonly string[] SbinDirs = { "/usr/sbin", "/sbin" };

    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
            .Concat(SbinDirs)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>Whether <paramref name="path"/> is a mount point, from /proc/self/mountinfo (field 5).</summary>
    public static bool IsMounted(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var f = line.Split(' ');
            if (f.Length > 4 && Unescape(f[4]) == full)
            {
                return true;
            }
        }
        return false;
    }

    private static string Unescape(string s) => s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");

    public static async Task UnmountAsync(string path)
    {
        while (IsMounted(path))
        {
            await RunAsync("umount", path);
        }
    }

    public static async Task<string> FilesystemTypeAsync(string path) => (await RunAsync("stat", "-f", "-c", "%T", path)).Trim();

    public static Task CopyTreeAsync(string source, string target) => RunAsync("cp", "-a", "--reflink=auto", source, target);

    public static void DeleteTree(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}

/// <summary>A host tool failed; the message carries its stderr.</summary>
public sealed class HostCommandException(string message) : HyperlxdException(message)
{
    public override int StatusCode => 500;
}
