using Hyperlxd.Core;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// Optimized backups as LXD 5.0.2 writes them on btrfs: <c>btrfs send</c> of each snapshot (incremental on
/// the one before) and of a read-only snapshot of the volume. Received streams are untrusted: each is
/// received into a fresh directory with <c>btrfs receive --chroot</c> (its paths, clones and parent can
/// reach nothing outside it), must yield exactly one subvolume with no device nodes, and only then is
/// moved into place.
/// </summary>
public sealed partial class BtrfsDriver : IOptimizedBackups
{
    private const string WorkPrefix = ".backup-";

    public async Task SendAsync(Volume v, IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct)
    {
        string? parent = null;
        foreach (var (snapshot, file) in snapshots)
        {
            var path = SnapshotPath(v, snapshot);
            await SendAsync(path, parent, file);
            parent = path;
        }
        // A read-only snapshot of the volume: a consistent image even while the instance writes.
        var work = NewWorkDir(v);
        try
        {
            var frozen = Path.Combine(work, "volume");
            await Host.RunAsync("btrfs", "-q", "subvolume", "snapshot", "-r", VolumePath(v), frozen);
            await SendAsync(frozen, parent, volumeFile);
        }
        finally
        {
            await DeleteWorkDirAsync(work);
        }
    }

    private static Task SendAsync(string path, string? parent, string file) =>
        parent is null ? Host.RunAsync("btrfs", "-q", "send", "-f", file, path) : Host.RunAsync("btrfs", "-q", "send", "-f", file, "-p", parent, path);

    public async Task ReceiveAsync(Volume v, IReadOnlyList<(string Snapshot, string File)> snapshots, string volumeFile, CancellationToken ct)
    {
        if (Directory.Exists(VolumePath(v)))
        {
            throw new ConflictException($"Storage volume \"{v.Name}\" already exists on pool \"{Pool.Name}\"");
        }
        // Every stream lands in the same directory: an incremental one finds its parent there and nowhere else.
        var work = NewWorkDir(v);
        var placed = false;
        try
        {
            var received = new List<string>();
            for (var i = 0; i <= snapshots.Count; i++)
            {
                var file = i < snapshots.Count ? snapshots[i].File : volumeFile;
                received.Add(await ReceiveOneAsync(work, file, $"r{i}"));
            }
            placed = true;
            // A read-only subvolume cannot leave its directory: each is made writable for the move (which drops the
            // received_uuid, hence -f: nothing is received on top of them any more), then read-only again, as LXD.
            for (var i = 0; i < snapshots.Count; i++)
            {
                var path = PrepareSnapshotPath(v, snapshots[i].Snapshot);
                await Host.RunAsync("btrfs", "property", "set", "-f", "-ts", received[i], "ro", "false");
                Directory.Move(received[i], path);
                await Host.RunAsync("btrfs", "property", "set", "-ts", path, "ro", "true");
            }
            // The volume is writable again, and its own root gets the pool's mode whatever the stream said.
            await Host.RunAsync("btrfs", "property", "set", "-f", "-ts", received[^1], "ro", "false");
            Directory.Move(received[^1], VolumePath(v));
            Syscalls.Lchown(VolumePath(v), 0, 0);
            SecureVolume(v);
        }
        catch
        {
            if (placed)
            {
                await DeleteVolumeAsync(v, CancellationToken.None);
            }
            throw;
        }
        finally
        {
            await DeleteWorkDirAsync(work);
        }
    }

    /// <summary>Receives one stream into <paramref name="dir"/> and names what it made <paramref name="name"/>; a 400 for a bad stream.</summary>
    private static async Task<string> ReceiveOneAsync(string dir, string file, string name)
    {
        var before = Directory.GetFileSystemEntries(dir).ToHashSet(StringComparer.Ordinal);
        try
        {
            await Host.RunAsync("btrfs", "-q", "receive", "-e", "-C", "-f", file, dir);
        }
        catch (HostCommandException e)
        {
            throw new BadRequestException($"Invalid backup: btrfs receive failed: {e.Message}");
        }
        var made = Directory.GetFileSystemEntries(dir).Where(p => !before.Contains(p)).ToList();
        if (made.Count != 1 || !await IsSubvolumeAsync(made[0]))
        {
            throw new BadRequestException("Invalid backup: a btrfs stream must make exactly one subvolume");
        }
        var devices = await Host.RunAsync("find", made[0], "-xdev", "(", "-type", "b", "-o", "-type", "c", ")", "-print", "-quit");
        if (devices.Length > 0)
        {
            throw new BadRequestException($"Invalid backup: the btrfs stream contains a device node (\"{Path.GetRelativePath(made[0], devices.Trim())}\")");
        }
        var path = Path.Combine(dir, name);
        Directory.Move(made[0], path);
        return path;
    }

    private static async Task<bool> IsSubvolumeAsync(string path)
    {
        if (File.GetAttributes(path).HasFlag(FileAttributes.ReparsePoint) || !Directory.Exists(path))
        {
            return false;
        }
        try
        {
            await Host.RunAsync("btrfs", "subvolume", "show", path);
            return true;
        }
        catch (HostCommandException)
        {
            return false;
        }
    }

    /// <summary>What a daemon killed during a backup or an import left (subvolumes no record knows of).</summary>
    private async Task SweepBackupWorkAsync()
    {
        foreach (var type in new[] { VolumeType.Container, VolumeType.VirtualMachine, VolumeType.Custom })
        {
            var dir = Path.GetDirectoryName(VolumePath(new Volume(type, "x")))!;
            if (Directory.Exists(dir))
            {
                foreach (var work in Directory.GetDirectories(dir, WorkPrefix + "*"))
                {
                    await DeleteWorkDirAsync(work);
                }
            }
        }
    }

    /// <summary>
    /// A root-only directory in the volume type's directory (same filesystem, so moves are renames; the default
    /// project's, also for a project's volume, so startup finds it), named so startup can sweep leftovers.
    /// </summary>
    private string NewWorkDir(Volume v)
    {
        NewVolumePath(v); // the directory the volume is moved into at the end
        var dir = Path.Combine(Path.GetDirectoryName(VolumePath(v with { Name = "x" }))!, WorkPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return dir;
    }

    /// <summary>Deletes whatever subvolumes a work directory still holds (a partial receive too), then the directory.</summary>
    private static async Task DeleteWorkDirAsync(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return;
        }
        foreach (var entry in Directory.GetFileSystemEntries(dir))
        {
            if (await IsSubvolumeAsync(entry))
            {
                await Host.RunAsync("btrfs", "-q", "subvolume", "delete", entry);
            }
            else if (Directory.Exists(entry) && !File.GetAttributes(entry).HasFlag(FileAttributes.ReparsePoint))
            {
                Directory.Delete(entry, true);
            }
            else
            {
                File.Delete(entry);
            }
        }
        Directory.Delete(dir);
    }
}
