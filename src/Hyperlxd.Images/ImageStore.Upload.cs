using System.Buffers;
using System.Security.Cryptography;
using Hyperlxd.Api;
using Hyperlxd.Core;

namespace Hyperlxd.Images;

/// <summary>What comes with an upload besides its bytes (headers or the JSON request).</summary>
public sealed class ImportOptions
{
    public string Filename { get; init; } = "";
    public bool Public { get; init; }
    public bool AutoUpdate { get; init; }
    public Dictionary<string, string> Properties { get; init; } = new();
    public List<string>? Profiles { get; init; }
    public List<ImageAlias> Aliases { get; init; } = new();
    /// <summary>A fingerprint the client expects (X-LXD-fingerprint, simplestreams): a mismatch is refused.</summary>
    public string? ExpectedFingerprint { get; init; }
    public ImageSource? UpdateSource { get; init; }

    /// <summary>
    /// An image with this fingerprint is already stored: true takes it as the result (it is being added to
    /// another project, which keeps its own aliases); false (or no callback) refuses the duplicate.
    /// </summary>
    public Func<string, CancellationToken, Task<bool>>? AdoptExisting { get; init; }
}

/// <summary>
/// An upload in progress: each part streams into a temp file in the images directory while one
/// sha256 runs over all parts in order (LXD's split fingerprint is sha256(metadata ‖ rootfs)).
/// Disposing removes whatever temp files were not committed.
/// </summary>
public sealed class Upload : IAsyncDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly string _dir;
    private readonly long _limit;

    internal Upload(string dir, long limit)
    {
        _dir = dir;
        _limit = limit;
    }

    internal List<(string Name, string Path)> Parts { get; } = new();
    public long Size { get; private set; }
    internal string Fingerprint => Convert.ToHexStringLower(_hash.GetCurrentHash());

    /// <summary>Streams one part to disk; over the limit is a 413 and the partial file is removed.</summary>
    public async Task AddPartAsync(string name, Stream body, CancellationToken ct)
    {
        StartPart(name);
        await AppendAsync(body, ct);
    }

    /// <summary>Opens a new, empty part; <see cref="AppendAsync"/> then adds to it (a resumed download appends).</summary>
    public void StartPart(string name)
    {
        var path = Path.Combine(_dir, ".upload-" + Guid.NewGuid().ToString("N"));
        Parts.Add((name, path));
        File.WriteAllBytes(path, []);
        PartLength = 0;
    }

    /// <summary>Bytes in the current part so far.</summary>
    public long PartLength { get; private set; }

    public async Task AppendAsync(Stream body, CancellationToken ct)
    {
        var path = Parts[^1].Path;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await using var f = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
            int n;
            while ((n = await body.ReadAsync(buffer.AsMemory(0, buffer.Length), ct)) > 0)
            {
                Size += n;
                if (Size > _limit)
                {
                    throw new PayloadTooLargeException($"Image too large: the upload exceeds images.max_upload_size ({_limit} bytes)");
                }
                _hash.AppendData(buffer, 0, n);
                await f.WriteAsync(buffer.AsMemory(0, n), ct);
                PartLength += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public ValueTask DisposeAsync()
    {
        foreach (var (_, path) in Parts)
        {
            File.Delete(path);
        }
        _hash.Dispose();
        return ValueTask.CompletedTask;
    }
}

public sealed partial class ImageStore
{
    public Upload BeginUpload(long limit) => new(Dir, limit);

    /// <summary>
    /// Validates the uploaded parts and makes them an image: files renamed into place, row and
    /// aliases inserted in one transaction. Any failure leaves neither files nor rows behind.
    /// </summary>
    public async Task<Image> ImportAsync(Upload upload, ImportOptions opts, CancellationToken ct)
    {
        if (upload.Parts.Count is < 1 or > 2)
        {
            throw new BadRequestException("An image upload has one part (unified) or two (metadata and rootfs)");
        }
        var fp = upload.Fingerprint;
        if (opts.ExpectedFingerprint is { Length: > 0 } expected && !string.Equals(expected, fp, StringComparison.OrdinalIgnoreCase))
        {
            throw new BadRequestException($"Fingerprint mismatch: got {fp}, expected {expected}");
        }
        var budget = UnpackedBudget();
        var info = upload.Parts.Count == 1
            ? InspectUnified(upload.Parts[0].Path, budget)
            : InspectSplit(upload.Parts[0].Path, upload.Parts[1].Path, upload.Parts[1].Name, budget);

        var now = DateTimeOffset.UtcNow;
        var props = new Dictionary<string, string>(info.Metadata.Properties);
        foreach (var (k, v) in opts.Properties)
        {
            props[k] = v;
        }
        var image = new Image
        {
            Fingerprint = fp,
            Filename = opts.Filename,
            Size = upload.Size,
            Public = opts.Public,
            AutoUpdate = opts.AutoUpdate,
            Architecture = info.Metadata.Architecture,
            Type = info.Type,
            Properties = props,
            Profiles = opts.Profiles ?? new() { "default" },
            CreatedAt = info.Metadata.CreationDate > 0 ? DateTimeOffset.FromUnixTimeSeconds(info.Metadata.CreationDate) : now,
            ExpiresAt = info.Metadata.ExpiryDate > 0 ? DateTimeOffset.FromUnixTimeSeconds(info.Metadata.ExpiryDate) : default,
            UploadedAt = now,
            UpdateSource = opts.UpdateSource,
            Cached = opts.UpdateSource is not null,
            Aliases = opts.Aliases,
        };
        foreach (var a in opts.Aliases)
        {
            ValidateAliasName(a.Name);
        }
        var aliases = opts.Aliases.Select(a => new ImageAliasesEntry { Name = a.Name, Description = a.Description, Target = fp, Type = info.Type }).ToList();

        await _commitLock.WaitAsync(ct);
        try
        {
            if ((await _repo.MatchAsync(fp, ct)).Contains(fp))
            {
                if (opts.AdoptExisting is null || !await opts.AdoptExisting(fp, ct))
                {
                    throw new ConflictException("Image with same fingerprint already exists");
                }
                foreach (var alias in aliases)
                {
                    await _repo.CreateAliasAsync(alias, ct);
                }
                return await _repo.GetAsync(fp, ct);
            }
            await using var revert = new Reverter();
            var dest = new[] { PathOf(fp), RootfsPathOf(fp) };
            for (var i = 0; i < upload.Parts.Count; i++)
            {
                File.Move(upload.Parts[i].Path, dest[i], overwrite: true);
                File.SetUnixFileMode(dest[i], UnixFileMode.UserRead | UnixFileMode.UserWrite);
                var moved = dest[i];
                revert.Add(() => { File.Delete(moved); return Task.CompletedTask; });
            }
            upload.Parts.Clear();
            await _repo.CreateAsync(image, aliases, ct);
            revert.Success();
        }
        finally
        {
            _commitLock.Release();
        }
        return image;
    }
}
