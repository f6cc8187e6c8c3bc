using Hyperlxd.Core;
using Hyperlxd.State.Repositories;
using Hyperlxd.Storage.Drivers;

namespace Hyperlxd.Storage;

/// <summary>Custom volumes and their snapshots: a DB row and the host volume, created and removed together.</summary>
public sealed partial class StoragePool
{
    /// <summary>The pool's volumes, of one type or (null) all.</summary>
    public Task<List<VolumeRecord>> ListVolumesAsync(string? type, CancellationToken ct) => _repo.ListVolumesAsync(Name, type, ct);

    public Task<VolumeRecord> GetVolumeAsync(string type, string name, CancellationToken ct) => _repo.GetVolumeAsync(Name, type, name, ct);

    public Task<List<VolumeSnapshotRecord>> ListSnapshotsAsync(VolumeRecord v, CancellationToken ct) => _repo.ListSnapshotsAsync(v.Id, ct);

    public Task<VolumeSnapshotRecord> GetSnapshotAsync(VolumeRecord v, string name, CancellationToken ct) => _repo.GetSnapshotAsync(v.Id, name, ct);

    /// <summary>A snapshot's writable fields (the description and the expiry).</summary>
    public Task UpdateSnapshotAsync(VolumeSnapshotRecord s, string description, DateTimeOffset? expiresAt, CancellationToken ct) =>
        _repo.UpdateSnapshotAsync(s.Id, description, expiresAt, ct);

    public async Task<VolumeRecord> CreateVolumeAsync(VolumeType type, string name, string description, Dictionary<string, string> config, string contentType, CancellationToken ct)
    {
        Names.ValidateVolumeKey(name);
        if (contentType is not ("filesystem" or "block"))
        {
            throw new BadRequestException($"Invalid content type \"{contentType}\"");
        }
        if (contentType == "block")
        {
            throw new BadRequestException($"Block volumes are not supported by the {Info.Name} driver");
        }
        ValidateVolumeConfig(config);
        using var _ = await _locks.AcquireAsync(Key(type, name), ct);
        await using var revert = new Reverter();
        var record = await _repo.CreateVolumeAsync(Name, name, TypeName(type), description, config, contentType, ct);
        revert.Add(() => _repo.DeleteVolumeAsync(record.Id, CancellationToken.None));
        var vol = new Volume(type, name);
        await Driver.CreateVolumeAsync(vol, ct);
        revert.Add(() => Driver.DeleteVolumeAsync(vol, CancellationToken.None));
        if (config.GetValueOrDefault("size") is { Length: > 0 } size)
        {
            await Driver.SetQuotaAsync(vol, size, ct);
        }
        revert.Success();
        return record;
    }

    /// <summary>
    /// Replaces description and config; a changed <c>size</c> is applied live before the row is written.
    /// <c>volatile.*</c> keys are the server's (the id map an attached volume holds): kept whatever the request says.
    /// </summary>
    public async Task UpdateVolumeAsync(VolumeRecord v, string description, Dictionary<string, string> config, CancellationToken ct)
    {
        config = WithoutVolatile(config);
        var vol = new Volume(ParseType(v.Type), v.Name);
        ValidateVolumeConfig(config, vol.Type);
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        var oldSize = v.Config.GetValueOrDefault("size", "");
        var newSize = config.GetValueOrDefault("size", "");
        await using var revert = new Reverter();
        if (oldSize != newSize)
        {
            await ApplySizeAsync(vol, newSize, ct);
            if (vol.Type != VolumeType.VirtualMachine) // a grown disk stays grown: shrinking it would cut the guest's filesystem
            {
                revert.Add(() => Driver.SetQuotaAsync(vol, oldSize, CancellationToken.None));
            }
        }
        var written = config.Where(kv => kv.Value.Length > 0)
            .Concat(v.Config.Where(kv => kv.Key.StartsWith("volatile.", StringComparison.Ordinal))).ToDictionary();
        await _repo.UpdateVolumeAsync(v.Id, description, written, ct);
        revert.Success();
    }

    public async Task RenameVolumeAsync(VolumeRecord v, string newName, CancellationToken ct)
    {
        Names.ValidateVolumeKey(newName);
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        if (await _repo.FindVolumeAsync(Name, v.Type, newName, ct) is not null)
        {
            throw new ConflictException("Volume by that name already exists");
        }
        var vol = new Volume(ParseType(v.Type), v.Name);
        await using var revert = new Reverter();
        await Driver.RenameVolumeAsync(vol, newName, ct);
        revert.Add(() => Driver.RenameVolumeAsync(vol with { Name = newName }, v.Name, CancellationToken.None));
        await _repo.RenameVolumeAsync(v.Id, newName, ct);
        revert.Success();
    }

    /// <summary>Removes the host volume first: a row without a volume can be deleted again, a volume without a row would leak.</summary>
    public async Task DeleteVolumeAsync(VolumeRecord v, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        await Driver.DeleteVolumeAsync(new Volume(ParseType(v.Type), v.Name), ct);
        await _repo.DeleteVolumeAsync(v.Id, ct);
    }

    public async Task CreateSnapshotAsync(VolumeRecord v, string snapshot, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        Names.ValidateEntityName("snapshot", snapshot);
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        var vol = new Volume(ParseType(v.Type), v.Name);
        await using var revert = new Reverter();
        await _repo.CreateSnapshotAsync(v.Id, snapshot, v.Description, v.Config, expiresAt, ct);
        revert.Add(async () =>
        {
            var s = await _repo.GetSnapshotAsync(v.Id, snapshot, CancellationToken.None);
            await _repo.DeleteSnapshotAsync(s.Id, CancellationToken.None);
        });
        await Driver.CreateSnapshotAsync(vol, snapshot, ct);
        revert.Success();
    }

    public async Task DeleteSnapshotAsync(VolumeRecord v, VolumeSnapshotRecord s, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        await Driver.DeleteSnapshotAsync(new Volume(ParseType(v.Type), v.Name), s.Name, ct);
        await _repo.DeleteSnapshotAsync(s.Id, ct);
    }

    public async Task RenameSnapshotAsync(VolumeRecord v, VolumeSnapshotRecord s, string newName, CancellationToken ct)
    {
        Names.ValidateEntityName("snapshot", newName);
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        if ((await _repo.ListSnapshotsAsync(v.Id, ct)).Any(x => x.Name == newName))
        {
            throw new ConflictException($"Snapshot \"{newName}\" already exists");
        }
        var vol = new Volume(ParseType(v.Type), v.Name);
        await using var revert = new Reverter();
        await Driver.RenameSnapshotAsync(vol, s.Name, newName, ct);
        revert.Add(() => Driver.RenameSnapshotAsync(vol, newName, s.Name, CancellationToken.None));
        await _repo.RenameSnapshotAsync(s.Id, newName, ct);
        revert.Success();
    }

    public async Task RestoreSnapshotAsync(VolumeRecord v, string snapshot, CancellationToken ct)
    {
        var s = await _repo.GetSnapshotAsync(v.Id, snapshot, ct);
        using var _ = await _locks.AcquireAsync(Key(v), ct);
        var vol = new Volume(ParseType(v.Type), v.Name);
        await Driver.RestoreSnapshotAsync(vol, s.Name, ct);
        // The restored subvolume is new: its quota has to be set again.
        if (Info.Quotas && vol.Type != VolumeType.VirtualMachine && v.Config.GetValueOrDefault("size") is { Length: > 0 } size)
        {
            await Driver.SetQuotaAsync(vol, size, ct);
        }
    }

    private static string Key(VolumeType type, string name) => TypeName(type) + "/" + name;

    private static string Key(VolumeRecord v) => v.Type + "/" + v.Name;
}
