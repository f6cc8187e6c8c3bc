using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// <c>btrfs</c> on one of three sources: an existing btrfs directory (bind-mounted), a block device
/// (formatted), or nothing — a sparse loop file <c>disks/NAME.img</c> of <c>size</c>. Volumes are
/// subvolumes, instances are snapshots of the read-only image subvolume, quotas are qgroup limits.
/// </summary>
public sealed partial class BtrfsDriver(PoolSpec pool, string version) : DriverBase(pool)
{
    public const long MinLoopSize = 256L << 20;
    private const string DefaultLoopSize = "5GiB";

    private static readonly Dictionary<string, Validators.Check> Keys = new()
    {
        ["source"] = v => Path.IsPathRooted(v) ? null : "must be an absolute path",
        ["size"] = v => Validators.ParseSize(v) is not { } n ? "must be a size such as 512MiB or 2GB"
            : n < MinLoopSize ? "must be at least 256MiB" : null,
        ["btrfs.mount_options"] = v => v.Contains(' ') ? "must be a comma-separated list without spaces" : null,
    };

    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private enum SourceKind { LoopFile, Device, Directory }

    public override DriverInfo Info => new("btrfs", version, OptimizedImages: true, Quotas: true, SnapshotsAreCheap: true, Remote: false);
    protected override IReadOnlyDictionary<string, Validators.Check> PoolKeys => Keys;

    private string Source => Config.GetValueOrDefault("source", "");
    private string MountOptions => Config.GetValueOrDefault("btrfs.mount_options") is { Length: > 0 } o ? o : "user_subvol_rm_allowed";

    private SourceKind Kind =>
        Source.StartsWith("/dev/", StringComparison.Ordinal) ? SourceKind.Device
        : Directory.Exists(Source) ? SourceKind.Directory
        : SourceKind.LoopFile;

    public override void FillPoolConfig()
    {
        base.FillPoolConfig();
        if (Source.Length == 0)
        {
            Config["source"] = Pool.Paths.Disk(Pool.Name);
            if (File.Exists(Source))
            {
                throw new ConflictException($"Loop file \"{Source}\" already exists");
            }
            if (Config.GetValueOrDefault("size", "").Length == 0)
            {
                Config["size"] = DefaultLoopSize;
            }
            return;
        }
        if (Config.ContainsKey("size"))
        {
            throw new BadRequestException("Invalid value for storage pool key \"size\": only a pool on a new loop file (no \"source\") has a size");
        }
        if (Source.StartsWith("/dev/", StringComparison.Ordinal))
        {
            if (!File.Exists(Source))
            {
                throw new BadRequestException($"Source device \"{Source}\" doesn't exist");
            }
        }
        else if (!Directory.Exists(Source))
        {
            throw new BadRequestException($"Source path \"{Source}\" doesn't exist");
        }
        else if (Directory.EnumerateFileSystemEntries(Source).Any())
        {
            throw new BadRequestException($"Source path \"{Source}\" isn't empty");
        }
    }

    public override async Task CreatePoolAsync(CancellationToken ct)
    {
        await using var revert = new Reverter();
        switch (Kind)
        {
            case SourceKind.LoopFile:
                Directory.CreateDirectory(Path.GetDirectoryName(Source)!);
                await using (var f = new FileStream(Source, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerReadWrite }))
                {
                    f.SetLength(Validators.ParseSize(Config["size"])!.Value);
                }
                revert.Add(() => File.Delete(Source));
                await Host.RunAsync("mkfs.btrfs", "-q", Source);
                break;
            case SourceKind.Device:
                await Host.RunAsync("mkfs.btrfs", "-q", Source);
                break;
            case SourceKind.Directory:
                if (await Host.FilesystemTypeAsync(Source) != "btrfs")
                {
                    throw new BadRequestException($"Source path \"{Source}\" isn't on a btrfs filesystem");
                }
                break;
        }
        var createdMount = !Directory.Exists(Pool.MountPath);
        Directory.CreateDirectory(Pool.MountPath);
        if (createdMount)
        {
            revert.Add(() => Directory.Delete(Pool.MountPath));
        }
        await MountPoolAsync(ct);
        revert.Add(() => UnmountPoolAsync(CancellationToken.None));
        CreateLayout();
        revert.Add(DeleteLayout);
        revert.Success();
    }

    public override async Task MountPoolAsync(CancellationToken ct)
    {
        await MountAsync();
        await SweepBackupWorkAsync();
    }

    private async Task MountAsync()
    {
        Directory.CreateDirectory(Pool.MountPath);
        if (Kind == SourceKind.LoopFile && File.Exists(Source))
        {
            // The loop file holds every volume's blocks: root only, also on installs from before.
            Chmod(Source, OwnerReadWrite);
        }
        if (Host.IsMounted(Pool.MountPath))
        {
            return;
        }
        switch (Kind)
        {
            case SourceKind.LoopFile:
                if (!File.Exists(Source))
                {
                    throw new HostCommandException($"Loop file \"{Source}\" of storage pool \"{Pool.Name}\" is missing");
                }
                // mount -o loop attaches the device with autoclear: unmounting releases it.
                await Host.RunAsync("mount", "-t", "btrfs", "-o", "loop," + MountOptions, Source, Pool.MountPath);
                break;
            case SourceKind.Device:
                await Host.RunAsync("mount", "-t", "btrfs", "-o", MountOptions, Source, Pool.MountPath);
                break;
            case SourceKind.Directory:
                if (Path.GetFullPath(Source).TrimEnd('/') != Path.GetFullPath(Pool.MountPath).TrimEnd('/'))
                {
                    await Host.RunAsync("mount", "--bind", Source, Pool.MountPath);
                }
                break;
        }
    }

    public override async Task UnmountPoolAsync(CancellationToken ct)
    {
        await Host.UnmountAsync(Pool.MountPath);
        if (Kind == SourceKind.LoopFile && File.Exists(Source))
        {
            await DetachLoopsAsync(Source);
        }
    }

    /// <summary>Detaches every loop device still backed by <paramref name="file"/> (autoclear normally did it already).</summary>
    public static async Task DetachLoopsAsync(string file)
    {
        var output = await Host.RunAsync("losetup", "-j", file, "-O", "NAME", "-n");
        foreach (var dev in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            try
            {
                await Host.RunAsync("losetup", "-d", dev);
            }
            catch (HostCommandException)
            {
                // Already gone.
            }
        }
    }

    public override async Task DeletePoolAsync(CancellationToken ct)
    {
        var kind = Kind;
        if (kind == SourceKind.Directory)
        {
            DeleteLayout();
        }
        await UnmountPoolAsync(ct);
        if (Directory.Exists(Pool.MountPath) && !Host.IsMounted(Pool.MountPath))
        {
            Directory.Delete(Pool.MountPath, recursive: kind != SourceKind.Directory || Source != Pool.MountPath);
        }
        if (kind == SourceKind.LoopFile && File.Exists(Source))
        {
            File.Delete(Source);
        }
    }
}
