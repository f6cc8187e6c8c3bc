using System.Globalization;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Instances.Backups;

/// <summary>What instance and custom volume backups share around their rows: LXD's naming and the pruning of expired ones.</summary>
internal static class BackupRows
{
    /// <summary>LXD's choice of a free name: backupN with N one past the highest used.</summary>
    public static string NextName(IEnumerable<BackupRecord> existing)
    {
        var max = 0;
        foreach (var b in existing)
        {
            if (b.Name.StartsWith("backup", StringComparison.Ordinal) && int.TryParse(b.Name["backup".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= max)
            {
                max = n + 1;
            }
        }
        return $"backup{max}";
    }

    /// <summary>
    /// Deletes every backup of <paramref name="repo"/> whose <c>expires_at</c> has passed (LXD's hourly task; also before
    /// a list): the file first (<paramref name="deleteFile"/>), as a row without a file is deleted again by the next try.
    /// </summary>
    public static async Task PruneExpiredAsync(BackupRepository repo, Action<BackupRecord> deleteFile, ILogger logger, string what, CancellationToken ct)
    {
        foreach (var b in await repo.ListExpiredAsync(DateTimeOffset.UtcNow, ct))
        {
            deleteFile(b);
            await repo.DeleteAsync(b.Instance, b.Name, ct);
            logger.LogInformation("Deleted expired {What} {Owner}/{Backup}", what, b.Instance, b.Name);
        }
    }

    /// <summary>Runs <paramref name="prune"/> now and hourly; failures are logged and retried at the next tick.</summary>
    public static Timer StartHourly(Func<CancellationToken, Task> prune, ILogger logger, string what) =>
        new(_ => _ = QuietlyAsync(prune, logger, what), null, TimeSpan.Zero, TimeSpan.FromHours(1));

    private static async Task QuietlyAsync(Func<CancellationToken, Task> prune, ILogger logger, string what)
    {
        try
        {
            await prune(CancellationToken.None);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning("Pruning expired {What}s failed: {Error}", what, e.Message);
        }
    }
}
