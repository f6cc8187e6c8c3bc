using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances;

/// <summary>
/// Instances that end by themselves. A running instance has one watcher (the driver's
/// <see cref="IInstanceDriver.WaitExitAsync"/>). When it ends while the daemon still records it as
/// running (nobody asked for a stop), it was the instance's own doing, and LXD's rules apply:
/// <c>instance-shutdown</c>; after <c>reboot</c> it starts again (same config, a new init) with
/// <c>instance-started</c> and <c>instance-restarted</c>; otherwise it is stopped and cleaned up
/// (an ephemeral one is deleted).
/// </summary>
public sealed partial class InstanceManager
{
    /// <summary>One watcher per run: called once by each start and, for what kept running, by the daemon's start-up.</summary>
    private void Watch(Expanded e)
    {
        var name = e.Record.Name;
        var driver = DriverOf(e);
        var spec = SpecOf(e);
        _ = Task.Run(async () =>
        {
            ExitInfo? exit;
            try
            {
                exit = await driver.WaitExitAsync(spec, CancellationToken.None);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or System.Net.Sockets.SocketException or HyperlxdException)
            {
                logger.LogWarning("Lost track of instance {Name}: {Error}", name, ex.Message);
                return;
            }
            if (exit is not null)
            {
                await EndedByItselfAsync(name, exit);
            }
        }, CancellationToken.None);
    }

    private async Task EndedByItselfAsync(string name, ExitInfo exit)
    {
        try
        {
            using var _ = await _locks.AcquireAsync(name, CancellationToken.None);
            var e = await LoadAsync(name, CancellationToken.None);
            var driver = DriverOf(e);
            var spec = SpecOf(e);
            // A stop or restart through the API has recorded its own outcome (or started it again).
            if (e.Config.GetValueOrDefault(LastPower) != "RUNNING"
                || await driver.GetStatusAsync(spec, CancellationToken.None) != InstanceStatus.Stopped)
            {
                return;
            }
            logger.LogInformation("Instance {Name} shut down by itself ({Reason})", name, exit.Reason);
            await CleanupAsync(e, CancellationToken.None);
            Lifecycle("instance-shutdown", name);
            if (exit.Reason == "reboot")
            {
                await StartLockedAsync(e, CancellationToken.None);
                Lifecycle("instance-restarted", name);
                return;
            }
            if (e.Record.Ephemeral)
            {
                await DeleteLockedAsync(e, CancellationToken.None);
                Lifecycle("instance-deleted", name);
                return;
            }
            await Repo.UpdateAsync(name, r =>
            {
                r.Config[LastPower] = "STOPPED";
                return Task.CompletedTask;
            }, CancellationToken.None);
        }
        catch (NotFoundException)
        {
            // deleted meanwhile
        }
        catch (Exception ex) when (ex is HyperlxdException or IOException or InvalidOperationException)
        {
            logger.LogError("Handling the end of instance {Name} ({Reason}) failed: {Error}", name, exit.Reason, ex.Message);
        }
    }
}
