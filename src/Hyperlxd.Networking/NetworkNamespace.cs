using System.Diagnostics;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Interop.Linux.Netlink;

namespace Hyperlxd.Networking;

/// <summary>
/// The network namespace the networks live in: the daemon's own (null path), or one named by
/// <see cref="Path"/> (tests drive a manager from the host against a namespace they made). Netlink
/// sockets, nft, dnsmasq and sysctls all go through here, so nothing lands in another namespace.
/// </summary>
public sealed class NetworkNamespace(string? path = null)
{
    public static readonly NetworkNamespace Current = new();

    public string? Path => path;

    public RtNetlink OpenNetlink() => path is null ? RtNetlink.Open() : RtNetlink.OpenIn(path);

    public Task<string> RunAsync(string program, IEnumerable<string> args, string? stdin = null, CancellationToken ct = default) =>
        HostCommand.RunAsync(Program(program), Args(program, args), new HostCommandOptions { Stdin = stdin, Timeout = TimeSpan.FromSeconds(30) }, ct);

    /// <summary>A long-lived child that must outlive the daemon (no parent-death signal); nsenter execs it, so its pid is the program's.</summary>
    public Process StartDetached(string program, IEnumerable<string> args) =>
        HostCommand.Start(Program(program), Args(program, args), HostCommandOptions.Detached, Redirect.All);

    /// <summary>Writes a per-namespace sysctl, named as its path under /proc/sys ("net/ipv4/ip_forward": an interface name may hold dots).</summary>
    public async Task SetSysctlAsync(string key, string value, CancellationToken ct = default)
    {
        if (path is null)
        {
            await File.WriteAllTextAsync("/proc/sys/" + key, value, ct);
        }
        else
        {
            await RunAsync("sh", ["-c", "echo \"$1\" > \"/proc/sys/$2\"", "sh", value, key], ct: ct);
        }
    }

    private string Program(string program) => path is null ? program : "nsenter";

    private IEnumerable<string> Args(string program, IEnumerable<string> args) => path is null ? args : new[] { "--net=" + path, program }.Concat(args);
}
