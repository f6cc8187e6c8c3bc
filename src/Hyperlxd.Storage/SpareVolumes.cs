using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Storage;

/// <summary>
/// For drivers whose image copies are full copies (no cheap snapshot: <c>dir</c>), one ready copy of each
/// image an instance was created from, kept next to the instance volumes. Creating the next instance is
/// a rename; the copy for the one after is refilled in the background. On hosts where every new inode
/// costs ~0.3 ms a busybox rootfs copy is ~100 ms, which would otherwise be most of a launch.
/// Spares have no DB row: they are names no instance can have (a leading '.'), dropped with their
/// image, and partial ones are deleted when the pool is mounted (a crash mid-refill leaks nothing).
/// </summary>
internal sealed class SpareVolumes(IStorageDriver driver, ILogger logger)
{
    private const string Prefix = ".spare-";
    private const string Partial = ".partial";
    private readonly object _gate = new();
    private readonly Dictionary<string, Task> _refills = new();

    private static Volume Spare(VolumeType type, string fingerprint) => new(type, Prefix + fingerprint);

    /// <summary>Turns the ready spare of <paramref name="image"/> into <paramref name="target"/>; false when there is none.</summary>
    public async Task<bool> TryTakeAsync(Volume image, Volume target, CancellationToken ct)
    {
        var spare = Spare(target.Type, image.Name);
        Task? refill;
        lock (_gate)
        {
            _refills.TryGetValue(Key(spare), out refill);
        }
        if (refill is not null)
        {
            // A refill under way is closer to done than a fresh copy would be.
            await refill.WaitAsync(ct);
        }
        lock (_gate)
        {
            if (!Directory.Exists(driver.VolumePath(spare)) || _refills.ContainsKey(Key(spare)))
            {
                return false;
            }
            // rename(2) within the pool: atomic, and the spare is gone before anyone else can look.
            Directory.Move(driver.VolumePath(spare), driver.VolumePath(target));
            return true;
        }
    }

    /// <summary>Starts making a new spare of <paramref name="image"/> for <paramref name="type"/> unless one exists or is being made.</summary>
    public void Refill(Volume image, VolumeType type)
    {
        var spare = Spare(type, image.Name);
        lock (_gate)
        {
            if (_refills.ContainsKey(Key(spare)) || Directory.Exists(driver.VolumePath(spare)))
            {
                return;
            }
            _refills[Key(spare)] = Task.Run(async () =>
            {
                var partial = spare with { Name = spare.Name + Partial };
                try
                {
                    await DeleteAsync(partial);
                    await driver.CreateVolumeFromCopyAsync(partial, image, CancellationToken.None);
                    Directory.Move(driver.VolumePath(partial), driver.VolumePath(spare));
                }
                catch (Exception e)
                {
                    logger.LogWarning("Failed preparing a spare copy of image {Image}: {Error}", image.Name, e.Message);
                    await DeleteAsync(partial);
                }
                finally
                {
                    lock (_gate)
                    {
                        _refills.Remove(Key(spare));
                    }
                }
            });
        }
    }

    /// <summary>Drops the spares of one image (waiting for a refill in progress first).</summary>
    public async Task DropAsync(string fingerprint)
    {
        foreach (var type in new[] { VolumeType.Container, VolumeType.VirtualMachine })
        {
            var spare = Spare(type, fingerprint);
            Task? refill;
            lock (_gate)
            {
                _refills.TryGetValue(Key(spare), out refill);
            }
            if (refill is not null)
            {
                await refill;
            }
            await DeleteAsync(spare);
            await DeleteAsync(spare with { Name = spare.Name + Partial });
        }
    }

    /// <summary>
    /// At mount, before any create can run: deletes partial spares (a refill cut short) and spares whose
    /// image volume is gone. A complete spare was renamed into place whole, so it stays usable.
    /// </summary>
    public async Task CleanAsync()
    {
        foreach (var type in new[] { VolumeType.Container, VolumeType.VirtualMachine })
        {
            var dir = Path.GetDirectoryName(driver.VolumePath(new Volume(type, "x")))!;
            if (!Directory.Exists(dir))
            {
                continue;
            }
            foreach (var path in Directory.EnumerateDirectories(dir, Prefix + "*"))
            {
                var name = Path.GetFileName(path);
                var image = new Volume(VolumeType.Image, name[Prefix.Length..]);
                if (name.EndsWith(Partial, StringComparison.Ordinal) || !Directory.Exists(driver.VolumePath(image)))
                {
                    await DeleteAsync(new Volume(type, name));
                }
            }
        }
    }

    /// <summary>Waits for refills under way (daemon shutdown: no copy outlives the daemon).</summary>
    public Task WaitAsync()
    {
        lock (_gate)
        {
            return Task.WhenAll(_refills.Values);
        }
    }

    /// <summary>The spare's path for tests and diagnostics.</summary>
    public string PathOf(VolumeType type, string fingerprint) => driver.VolumePath(Spare(type, fingerprint));

    private async Task DeleteAsync(Volume v)
    {
        if (Directory.Exists(driver.VolumePath(v)))
        {
            await driver.DeleteVolumeAsync(v, CancellationToken.None);
        }
    }

    private static string Key(Volume v) => $"{v.Type}/{v.Name}";
}
