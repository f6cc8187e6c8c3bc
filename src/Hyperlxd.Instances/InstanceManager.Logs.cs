using Hyperlxd.Core;

namespace Hyperlxd.Instances;

/// <summary>
/// An instance's log files (<c>/1.0/instances/NAME/logs</c>): what the drivers write in its state
/// directory under LXD's names — <c>lxc.log</c> (containers), <c>qemu.log</c> (VMs) — which
/// <c>lxc info --show-log</c> reads.
/// </summary>
public sealed partial class InstanceManager
{
    /// <summary>LXD 5.0.2's names; anything else is refused so that no other file of the state directory is served.</summary>
    private static bool IsLogName(string file) =>
        file is "lxc.log" or "lxc.conf" or "qemu.log"
        || ((file.StartsWith("migration_", StringComparison.Ordinal) || file.StartsWith("snapshot_", StringComparison.Ordinal)
             || file.StartsWith("exec_", StringComparison.Ordinal))
            && !file.Contains('/') && !file.Contains('\0') && !file.Contains(".."));

    public async Task<List<string>> ListLogsAsync(string name, CancellationToken ct)
    {
        await LoadAsync(name, ct); // 404 for an unknown instance, as the other routes
        var dir = StateDirOf(name);
        return Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir).Select(Path.GetFileName).OfType<string>().Where(IsLogName).Order(StringComparer.Ordinal).ToList()
            : [];
    }

    /// <summary>The path of one log file: 400 for a name that is not a log's, 404 when it does not exist.</summary>
    public async Task<string> LogPathAsync(string name, string file, CancellationToken ct)
    {
        await LoadAsync(name, ct);
        if (!IsLogName(file))
        {
            throw new BadRequestException($"Log file name \"{file}\" not valid");
        }
        var path = Path.Combine(StateDirOf(name), file);
        // A regular file only: a symlink planted in the state directory must not make this read elsewhere.
        return new FileInfo(path) is { Exists: true, LinkTarget: null } ? path : throw new NotFoundException($"Log file \"{file}\" not found");
    }

    /// <summary>Where a recorded exec (<c>record-output</c>) writes: <c>exec_OPID.stdout</c> and <c>.stderr</c> among the logs.</summary>
    public (string Stdout, string Stderr) ExecRecordingPaths(string name, string operationId)
    {
        var dir = StateDirOf(name);
        Directory.CreateDirectory(dir);
        return (Path.Combine(dir, $"exec_{operationId}.stdout"), Path.Combine(dir, $"exec_{operationId}.stderr"));
    }

    /// <summary>Deletes a log; the driver's own log (lxc.log, qemu.log) stays, as LXD refuses to delete lxc.log.</summary>
    public async Task DeleteLogAsync(string name, string file, CancellationToken ct)
    {
        var path = await LogPathAsync(name, file, ct);
        if (file is "lxc.log" or "lxc.conf" or "qemu.log")
        {
            throw new BadRequestException($"{file} may not be deleted");
        }
        File.Delete(path);
    }
}
