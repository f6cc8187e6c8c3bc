using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Storage.Drivers;

/// <summary>
/// <c>dir</c>: volumes are plain directories under the pool's source; copies use reflinks where the
/// filesystem has them (<c>cp --reflink=auto</c>). A source other than the default path is bind-mounted
/// onto <c>storage-pools/NAME</c>.
/// </summary>
public sealed partial class DirDriver(PoolSpec pool) : DriverBase(pool)
{
    public static readonly DriverInfo Description = new("dir", "1", OptimizedImages: false, Quotas: false, SnapshotsAreCheap: false, Remote: false);

    private static readonly Dictionary<string, Validators.Check> Keys = new()
    {
        ["source"] = v => Path.IsPathRooted(v) ? null : "must be an absolute path",
    };

    public override DriverInfo Info => Description;
    protected override IReadOnlyDictionary<string, Validators.Check> PoolKeys => Keys;

    private string Source => Config.GetValueOrDefault("source") is { Length: > 0 } s ? s : Pool.MountPath;
    private bool BindMounted => Path.GetFullPath(Source).TrimEnd('/') != Path.GetFullPath(Pool.MountPath).TrimEnd('/');

    public override void FillPoolConfig()
    {
        base.FillPoolConfig();
        if (Directory.Exists(Source) && Directory.EnumerateFileSystemEntries(Source).Any())
        {
            throw new BadRequestException($"Source path \"{Source}\" isn't empty");
        }
        if (File.Exists(Source))
        {
            throw new BadRequestException($"Source path \"{Source}\" isn't a directory");
        }
        Config["source"] = Source;
    }

    public override async Task CreatePoolAsync(CancellationToken ct)
    {
        await using var revert = new Reverter();
        foreach (var dir in new[] { Source, Pool.MountPath }.Distinct())
        {
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir);
                revert.Add(() => Host.DeleteTree(dir));
            }
        }
        await MountPoolAsync(ct);
        revert.Add(() => UnmountPoolAsync(CancellationToken.None));
        CreateLayout();
        revert.Add(DeleteLayout);
        revert.Success();
    }

    public override async Task MountPoolAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(Pool.MountPath);
        if (BindMounted && !Host.IsMounted(Pool.MountPath))
        {
            await Host.RunAsync("mount", "--bind", Source, Pool.MountPath);
        }
    }

    public override async Task UnmountPoolAsync(CancellationToken ct)
    {
        if (BindMounted)
        {
            await Host.UnmountAsync(Pool.MountPath);
        }
    }

    public override async Task DeletePoolAsync(CancellationToken ct)
    {
        DeleteLayout();
        await UnmountPoolAsync(ct);
        Host.DeleteTree(Pool.MountPath);
        if (BindMounted && Directory.Exists(Source) && !Directory.EnumerateFileSystemEntries(Source).Any())
        {
            Directory.Delete(Source);
        }
    }
}
