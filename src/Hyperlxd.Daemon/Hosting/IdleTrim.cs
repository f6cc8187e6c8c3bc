using System.Runtime;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Daemon.Hosting;

/// <summary>
/// Gives memory back once a burst of work is over. The GC keeps the heap a burst grew it to (a
/// 50-container bench left the daemon at 3x its idle size for good), and glibc keeps freed native
/// memory. When the daemon goes quiet (little allocated over one interval) after having allocated a
/// lot since the last trim, one aggressive compacting collection decommits what the heap no longer
/// uses and <c>malloc_trim</c> returns the native heap's free pages. Idle daemons never pay for it.
/// </summary>
internal sealed partial class IdleTrim(ILogger<IdleTrim> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private const long Burst = 16L << 20; // allocated since the last trim that makes one worth it
    private const long Quiet = 512L << 10; // allocated over one interval by a daemon at rest

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var last = GC.GetTotalAllocatedBytes();
        var sinceTrim = 0L;
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var now = GC.GetTotalAllocatedBytes();
                var delta = now - last;
                last = now;
                sinceTrim += delta;
                if (delta >= Quiet || sinceTrim < Burst)
                {
                    continue;
                }
                var before = Environment.WorkingSet;
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                _ = MallocTrim(0); // 1 = memory released, 0 = none to release: both fine
                logger.LogDebug("Idle after {Allocated} MB allocated: memory trimmed, RSS {Before} -> {After} MB",
                    sinceTrim >> 20, before >> 20, Environment.WorkingSet >> 20);
                sinceTrim = 0;
                last = GC.GetTotalAllocatedBytes();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
