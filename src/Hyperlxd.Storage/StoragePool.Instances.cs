using Hyperlxd.Core;
using Hyperlxd.Core.Images;
using Hyperlxd.Core.Instances;
using Hyperlxd.Storage.Drivers;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Storage;

/// <summary>
/// Instance root volumes for the instance drivers: the image is unpacked once per pool into an
/// image volume (read-only where the driver can share it), and each instance is a copy of it.
/// </summary>
public sealed partial class StoragePool
{
    internal Lazy<IImageSource>? ImageSource { get; init; }

    /// <summary>
    /// Creates the root volume of <paramref name="instanceName"/> from a cached image and returns its
    /// path; <paramref name="size"/> is the root disk's <c>size</c> ("" for none, see <see cref="SetInstanceVolumeSizeAsync"/>).
    /// </summary>
    /// <param name="type"><c>container</c> or <c>virtual-machine</c>.</param>
    public async Task<string> CreateInstanceVolumeFromImageAsync(string instanceName, InstanceType type, string fingerprint, string size, CancellationToken ct)
    {
        Names.ValidateInstanceName(instanceName);
        var vtype = VolumeTypeOf(type);
        var image = await EnsureImageVolumeAsync(fingerprint, ct);
        using var _ = await _locks.AcquireAsync(Key(vtype, instanceName), ct);
        await using var revert = new Reverter();
        var applied = SizeApplies(vtype, size, instanceName);
        var record = await _repo.CreateVolumeAsync(Name, instanceName, type.ToApi(), "", applied ? new() { ["size"] = size } : new(), "filesystem", ct);
        revert.Add(() => _repo.DeleteVolumeAsync(record.Id, CancellationToken.None));
        var vol = new Volume(vtype, instanceName);
        // A VM's volume is an overlay or a snapshot of the image: instant, no spare needed.
        var spares = vtype == VolumeType.Container ? _spares : null;
        if (spares is null || !await spares.TryTakeAsync(image, vol, ct))
        {
            if (vtype == VolumeType.VirtualMachine && !File.Exists(VmDisk.PathIn(Driver.VolumePath(image))))
            {
                throw new BadRequestException($"Image {fingerprint[..Math.Min(12, fingerprint.Length)]} has no disk (root.img) to boot a virtual machine from");
            }
            await Driver.CreateVolumeFromCopyAsync(vol, image, ct);
        }
        revert.Add(() => Driver.DeleteVolumeAsync(vol, CancellationToken.None));
        if (applied)
        {
            await ApplySizeAsync(vol, size, ct);
        }
        revert.Success();
        spares?.Refill(image, vtype);
        return Driver.VolumePath(vol);
    }

    /// <summary>
    /// Applies a root disk's <c>size</c> (LXD's root quota; "" lifts it) to the instance's volume, live,
    /// and keeps it in the volume's config so that a snapshot restore puts it back. A driver without
    /// quotas (dir) skips it with a warning, as LXD does.
    /// </summary>
    public async Task SetInstanceVolumeSizeAsync(string instanceName, InstanceType type, string size, CancellationToken ct)
    {
        var record = await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct);
        if (record.Config.GetValueOrDefault("size", "") == size || !SizeApplies(VolumeTypeOf(type), size, instanceName))
        {
            return;
        }
        // The same path as a custom volume's size: applied live, undone if the row is not written ("" drops the key).
        await UpdateVolumeAsync(record, record.Description, new Dictionary<string, string>(record.Config) { ["size"] = size }, ct);
    }

    /// <summary>A VM's <c>size</c> is its disk's size (every driver grows root.img); a container's is a quota.</summary>
    private bool SizeApplies(VolumeType type, string size, string instanceName)
    {
        if (type == VolumeType.VirtualMachine)
        {
            return size.Length > 0;
        }
        if (Info.Quotas)
        {
            return true;
        }
        if (size.Length > 0)
        {
            _logger.LogWarning("The {Driver} driver has no quotas: root disk size {Size} of instance {Name} is not enforced", Info.Name, size, instanceName);
        }
        return false;
    }

    public async Task DeleteInstanceVolumeAsync(string instanceName, InstanceType type, CancellationToken ct)
    {
        var record = await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct);
        await DeleteVolumeAsync(record, ct);
        if (type == InstanceType.VirtualMachine)
        {
            await ReleaseEvictedImagesAsync(ct);
        }
    }

    public async Task RenameInstanceVolumeAsync(string instanceName, string newName, InstanceType type, CancellationToken ct) =>
        await RenameVolumeAsync(await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct), newName, ct);

    public async Task RenameInstanceSnapshotAsync(string instanceName, InstanceType type, string snapshot, string newName, CancellationToken ct)
    {
        var v = await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct);
        await RenameSnapshotAsync(v, await _repo.GetSnapshotAsync(v.Id, snapshot, ct), newName, ct);
    }

    /// <summary>Bytes used by the instance's root volume, when the driver accounts it (LXD's state <c>disk.root.usage</c>).</summary>
    public long? InstanceVolumeUsage(string instanceName, InstanceType type) => Driver.VolumeUsage(new Volume(VolumeTypeOf(type), instanceName));

    public string InstanceVolumePath(string instanceName, InstanceType type) => Driver.VolumePath(new Volume(VolumeTypeOf(type), instanceName));

    /// <summary>Where custom volume <paramref name="name"/> (its key) is mounted on the host (a disk device's source); a 400 when it does not exist.</summary>
    public string CustomVolumePath(string name)
    {
        var path = Driver.VolumePath(new Volume(VolumeType.Custom, name));
        return Directory.Exists(path) ? path : throw new BadRequestException($"Storage volume \"{ProjectKeys.SplitScoped(name).Name}\" not found on pool \"{Name}\"");
    }

    public async Task CreateInstanceSnapshotAsync(string instanceName, InstanceType type, string snapshot, CancellationToken ct) =>
        await CreateSnapshotAsync(await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct), snapshot, null, ct);

    public async Task RestoreInstanceSnapshotAsync(string instanceName, InstanceType type, string snapshot, CancellationToken ct) =>
        await RestoreSnapshotAsync(await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct), snapshot, ct);

    public async Task DeleteInstanceSnapshotAsync(string instanceName, InstanceType type, string snapshot, CancellationToken ct)
    {
        var v = await _repo.GetVolumeAsync(Name, type.ToApi(), instanceName, ct);
        await DeleteSnapshotAsync(v, await _repo.GetSnapshotAsync(v.Id, snapshot, ct), ct);
        if (type == InstanceType.VirtualMachine)
        {
            await ReleaseEvictedImagesAsync(ct);
        }
    }

    private static VolumeType VolumeTypeOf(InstanceType type) =>
        type == InstanceType.Container ? VolumeType.Container : VolumeType.VirtualMachine;

    /// <summary>
    /// The pool's image volume for <paramref name="fingerprint"/>, unpacked on first use (one unpack even
    /// under concurrent callers). Its record is written after the unpack: a directory without one is
    /// what a daemon killed mid-unpack left, and is unpacked again rather than used.
    /// </summary>
    public async Task<Volume> EnsureImageVolumeAsync(string fingerprint, CancellationToken ct)
    {
        var vol = new Volume(VolumeType.Image, fingerprint);
        using var _ = await _locks.AcquireAsync(Key(VolumeType.Image, fingerprint), ct);
        var record = await _repo.FindVolumeAsync(Name, "image", fingerprint, ct);
        var path = Driver.VolumePath(vol);
        if (record is not null && Directory.Exists(path))
        {
            if (File.Exists(EvictedMarker(path)))
            {
                File.Delete(EvictedMarker(path)); // an image imported again takes its kept volume back
            }
            return vol;
        }
        var source = ImageSource?.Value ?? throw new InvalidOperationException("No image source is configured for the storage tier");
        await using var revert = new Reverter();
        if (Directory.Exists(path))
        {
            await Driver.DeleteVolumeAsync(vol, ct);
        }
        await Driver.CreateVolumeAsync(vol, ct);
        revert.Add(() => Driver.DeleteVolumeAsync(vol, CancellationToken.None));
        await source.UnpackAsync(fingerprint, path, ct);
        Driver.SecureImageVolume(vol);
        if (Info.OptimizedImages)
        {
            await Driver.SetReadOnlyAsync(vol, ct);
        }
        if (record is null)
        {
            await _repo.CreateVolumeAsync(Name, fingerprint, "image", "", new(), "filesystem", ct);
        }
        revert.Success();
        return vol;
    }

    /// <summary>Deletes leftover spare copies (at mount: a refill cut short by a crash leaves a partial one).</summary>
    internal Task CleanSparesAsync() => _spares?.CleanAsync() ?? Task.CompletedTask;

    internal Task WaitForSparesAsync() => _spares?.WaitAsync() ?? Task.CompletedTask;

    /// <summary>Where the ready copy of an image for new instances lives (null: the driver snapshots images instead).</summary>
    public string? SparePath(InstanceType type, string fingerprint) => _spares?.PathOf(VolumeTypeOf(type), fingerprint);

    /// <summary>
    /// Drops the cached image volume (container volumes made from it are independent copies or snapshots).
    /// VM volumes on dir are overlays of its disk: while one (or a snapshot of one) uses it, the volume is
    /// kept, marked evicted, and goes with the last of them (<see cref="ReleaseEvictedImagesAsync"/>).
    /// </summary>
    public async Task EvictImageAsync(string fingerprint, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(Key(VolumeType.Image, fingerprint), ct);
        if (_spares is not null)
        {
            await _spares.DropAsync(fingerprint);
        }
        var vol = new Volume(VolumeType.Image, fingerprint);
        var path = Driver.VolumePath(vol);
        if (Directory.Exists(path) && OverlayUsers(path) is { Count: > 0 } users)
        {
            _logger.LogInformation("Keeping the image volume {Image} on pool {Pool} while {Count} VM volume(s) back onto it ({First})",
                fingerprint, Name, users.Count, users[0]);
            await File.WriteAllTextAsync(EvictedMarker(path), "", ct);
            return;
        }
        if (Directory.Exists(path))
        {
            await Driver.DeleteVolumeAsync(vol, ct); // also an unpack cut short, which has no record
        }
        if (await _repo.FindVolumeAsync(Name, "image", fingerprint, ct) is { } record)
        {
            await _repo.DeleteVolumeAsync(record.Id, ct);
        }
    }
}
