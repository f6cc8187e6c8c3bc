using Hyperlxd.Core.Snapshots;
using Hyperlxd.Instances.Snapshots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// Runs the snapshot tick once a minute, shortly after each minute starts (LXD's tasks run every minute).
/// The daemon and the scheduler are resolved only once it is ready (they need the open state store).
/// Under a test clock nothing runs on its own: the tests drive the tick through the internal clock endpoint.
/// </summary>
internal sealed class SnapshotTasks(SnapshotClock clock, IServiceProvider services, ILogger<SnapshotTasks> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (clock.Testing)
        {
            logger.LogWarning("HYPERLXD_TEST_CLOCK=1: snapshot schedules run only when the test clock is set");
            return;
        }
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var now = DateTimeOffset.UtcNow;
                var next = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(1).AddSeconds(1);
                await Task.Delay(next - now, stoppingToken);
                if (!IsReady())
                {
                    continue;
                }
                try
                {
                    // Resolved once the daemon is ready: the scheduler's services need the open state store.
                    var report = await services.GetRequiredService<SnapshotScheduler>().TickAsync(stoppingToken);
                    if (report.Pruned.Count + report.Created.Count > 0)
                    {
                        logger.LogInformation("Snapshots: {Created} taken on schedule, {Pruned} expired ones deleted", report.Created.Count, report.Pruned.Count);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
                {
                    logger.LogWarning("Snapshot tick failed: {Error}", e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Whether the daemon has started (before its state store is open, resolving it throws).</summary>
    private bool IsReady()
    {
        try
        {
            return services.GetRequiredService<Daemon>().Ready;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
