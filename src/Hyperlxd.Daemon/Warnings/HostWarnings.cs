using Hyperlxd.Core.Instances;
using Hyperlxd.State;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Warnings;

/// <summary>
/// Warnings about the host raised at each start, under LXD 5.0.2's type names (lxd/db/warningtype): what
/// still holds is raised again (its count grows, an acknowledgement stays), what no longer holds is marked
/// resolved, as LXD resolves its start-up warnings.
/// </summary>
public sealed class HostWarnings(StateStore store, InstanceDrivers drivers, ILogger<HostWarnings> logger)
{
    public const string AppArmorNotAvailable = "AppArmor support has been disabled";
    public const string InstanceTypeNotOperational = "Instance type not operational";

    private static readonly string[] Managed = [AppArmorNotAvailable, InstanceTypeNotOperational];

    public async Task RaiseAsync(CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        // Containers run without AppArmor profiles where the kernel has none (the daemon's seccomp and
        // capability rules still apply): LXD warns of it the same way.
        if (!AppArmorEnabled())
        {
            await store.Warnings.UpsertAsync("", "", AppArmorNotAvailable, "low", "AppArmor support has been disabled because of lack of kernel support", ct);
        }
        foreach (var driver in drivers.All.Where(d => !d.Info.Available))
        {
            await store.Warnings.UpsertAsync("", "", InstanceTypeNotOperational, "low",
                $"Instance type \"{driver.Type.ToApi()}\" is not operational: {driver.Info.Reason}", ct);
        }
        // Raised ones were just touched; the rest no longer apply.
        foreach (var type in Managed)
        {
            await store.Warnings.ResolveOlderThanAsync(type, started, ct);
        }
        logger.LogDebug("Host warnings checked");
    }

    private static bool AppArmorEnabled()
    {
        try
        {
            return File.ReadAllText("/sys/module/apparmor/parameters/enabled").Trim() == "Y" && Directory.Exists("/sys/kernel/security/apparmor");
        }
        catch (IOException)
        {
            return false;
        }
    }
}
