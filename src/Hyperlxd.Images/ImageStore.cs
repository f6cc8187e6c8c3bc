using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Images.Tar;
using Hyperlxd.Core.Images;
using Hyperlxd.State.Repositories;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Images;

/// <summary>
/// The image store: files under <c>$HYPERLXD_DIR/images</c> (<c>&lt;fp&gt;</c> for a unified
/// tarball, plus <c>&lt;fp&gt;.rootfs</c> for a split image) and their rows in the database.
/// Split by concern into partials: Upload, Validate, Aliases, Export, Unpack, Remote.
/// </summary>
public sealed partial class ImageStore : IImageSource, IDisposable
{
    private const string TempPrefix = ".upload-";
    private readonly ImageRepository _repo;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _commitLock = new(1, 1);

    public void Dispose() => _commitLock.Dispose();

    /// <param name="cache">The storage tier's per-pool cache; null until a storage tier is registered.</param>
    public ImageStore(string imagesDir, ImageRepository repo, IImageCache? cache, ILogger<ImageStore> logger)
    {
        Dir = imagesDir;
        _repo = repo;
        Cache = cache;
        _logger = logger;
        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // Uploads that a crash interrupted: nothing refers to them.
        foreach (var stale in Directory.EnumerateFiles(Dir, TempPrefix + "*"))
        {
            File.Delete(stale);
        }
        foreach (var stale in Directory.EnumerateDirectories(Dir, TempPrefix + "*"))
        {
            Directory.Delete(stale, true); // a publish's work directory
        }
    }

    public string Dir { get; }
    public IImageCache? Cache { get; set; }

    /// <summary>Default for <c>images.max_upload_size</c>: 10 GiB.</summary>
    public const long DefaultMaxUploadSize = 10L << 30;

    /// <summary>Default for <c>images.max_unpacked_size</c>: 20 GiB.</summary>
    public const long DefaultMaxUnpackedSize = 20L << 30;

    /// <summary><c>images.max_unpacked_size</c> as the server config has it now (set by the daemon).</summary>
    public Func<long> MaxUnpackedSize { get; init; } = () => DefaultMaxUnpackedSize;

    private SizeBudget UnpackedBudget() => new(MaxUnpackedSize(), ServerConfig.ImagesMaxUnpackedSize);

    /// <summary>
    /// Startup repair: files whose row is gone (a crash between deleting the row and the files)
    /// are removed. Rows are never removed here: a missing file is reported when it is used.
    /// </summary>
    public async Task ReconcileAsync(CancellationToken ct)
    {
        var known = (await _repo.ListAsync(ct)).Select(i => i.Fingerprint).ToHashSet(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Dir))
        {
            var name = Path.GetFileName(file);
            var fp = name.EndsWith(".rootfs", StringComparison.Ordinal) ? name[..^".rootfs".Length] : name;
            if (fp.Length == 64 && fp.All(Uri.IsHexDigit) && !known.Contains(fp))
            {
                _logger.LogWarning("Removing orphaned image file {File}", file);
                File.Delete(file);
            }
        }
    }

    public string PathOf(string fingerprint) => Path.Combine(Dir, fingerprint);

    public string RootfsPathOf(string fingerprint) => Path.Combine(Dir, fingerprint + ".rootfs");

    public Task<List<Image>> ListAsync(CancellationToken ct) => _repo.ListAsync(ct);

    /// <summary>The image a full fingerprint or a unique prefix of one names (LXD's lookup).</summary>
    public async Task<Image> GetAsync(string fingerprintOrPrefix, CancellationToken ct) =>
        await _repo.GetAsync(await ResolveAsync(fingerprintOrPrefix, ct), ct);

    public async Task<string> ResolveAsync(string prefix, CancellationToken ct)
    {
        if (prefix.Length == 0 || !prefix.All(Uri.IsHexDigit))
        {
            throw new NotFoundException("Image not found");
        }
        var matches = await _repo.MatchAsync(prefix.ToLowerInvariant(), ct);
        return matches.Count switch
        {
            0 => throw new NotFoundException("Image not found"),
            1 => matches[0],
            _ => throw new BadRequestException("More than one image matches"),
        };
    }

    /// <summary>Applies a PUT (replace) or PATCH (merge) of the writable fields.</summary>
    public async Task<Image> UpdateAsync(string fingerprint, ImagePut req, bool patch, Action<Image>? check, CancellationToken ct) =>
        await _repo.UpdateAsync(fingerprint, i =>
        {
            check?.Invoke(i);
            if (patch)
            {
                foreach (var (k, v) in req.Properties ?? new())
                {
                    i.Properties[k] = v;
                }
                i.Public = req.Public ?? i.Public;
                i.AutoUpdate = req.AutoUpdate ?? i.AutoUpdate;
                i.Profiles = req.Profiles ?? i.Profiles;
                i.ExpiresAt = req.ExpiresAt ?? i.ExpiresAt;
            }
            else
            {
                i.Properties = req.Properties ?? new();
                i.Public = req.Public ?? false;
                i.AutoUpdate = req.AutoUpdate ?? false;
                i.Profiles = req.Profiles ?? new() { "default" };
                i.ExpiresAt = req.ExpiresAt ?? default;
            }
        }, ct);

    /// <summary>Removes the row (aliases go with it), the per-pool caches and the files.</summary>
    public async Task DeleteAsync(string fingerprint, CancellationToken ct)
    {
        await _repo.GetAsync(fingerprint, ct);
        if (Cache is not null)
        {
            await Cache.EvictAsync(fingerprint, ct);
        }
        await _repo.DeleteAsync(fingerprint, ct);
        File.Delete(PathOf(fingerprint));
        File.Delete(RootfsPathOf(fingerprint));
        _logger.LogInformation("Deleted image {Fingerprint}", fingerprint);
    }
}
