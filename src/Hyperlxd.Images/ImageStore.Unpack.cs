using Hyperlxd.Core;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Core.Config;
using Hyperlxd.Images.Tar;

namespace Hyperlxd.Images;

/// <summary><see cref="Core.Images.IImageSource"/>: the storage tier asks for an image laid out as an LXD image volume.</summary>
public sealed partial class ImageStore
{
    public async Task UnpackAsync(string fingerprint, string targetDir, CancellationToken ct)
    {
        var fp = await ResolveAsync(fingerprint, ct);
        var main = PathOf(fp);
        var rootfs = RootfsPathOf(fp);
        Directory.CreateDirectory(targetDir);
        var budget = UnpackBudget(targetDir);
        await Task.Run(async () =>
        {
            var split = File.Exists(rootfs);
            using (var tar = Compression.OpenTar(main, Compression.Detect(main)))
            {
                // Unified tarballs hold everything. Of a split image's metadata tarball only metadata and
                // templates are taken: a "rootfs" symlink in it would send the rootfs part anywhere.
                TarExtractor.Extract(tar, targetDir, p => split && IsRootfs(p) ? null : p, budget);
            }
            if (!split)
            {
                return;
            }
            var kind = Compression.Detect(rootfs);
            switch (kind)
            {
                case FileKind.Qcow2:
                    budget.Charge(new FileInfo(rootfs).Length);
                    File.Copy(rootfs, Path.Combine(targetDir, "root.img"));
                    break;
                case FileKind.Squashfs:
                    CheckSquashfs(rootfs, budget);
                    await UnsquashfsAsync(rootfs, Path.Combine(targetDir, "rootfs"), ct);
                    break;
                default:
                    Directory.CreateDirectory(Path.Combine(targetDir, "rootfs"));
                    using (var tar = Compression.OpenTar(rootfs, kind))
                    {
                        TarExtractor.Extract(tar, Path.Combine(targetDir, "rootfs"), p => p, budget);
                    }
                    break;
            }
        }, ct);
        // Unified VM images carry rootfs.img; the volume layout calls it root.img.
        var img = Path.Combine(targetDir, "rootfs.img");
        if (File.Exists(img))
        {
            File.Move(img, Path.Combine(targetDir, "root.img"));
        }
    }

    private static bool IsRootfs(string path) => path is "rootfs" or "rootfs.img" || path.StartsWith("rootfs/", StringComparison.Ordinal);

    /// <summary>
    /// What this unpack may write: <c>images.max_unpacked_size</c>, or less when the target
    /// pool has less free space (an unpack must fail cleanly, not fill the pool).
    /// </summary>
    private SizeBudget UnpackBudget(string targetDir)
    {
        var limit = MaxUnpackedSize();
        var free = new DriveInfo(targetDir).AvailableFreeSpace;
        return free < limit
            ? new SizeBudget(free, "the free space of the storage pool")
            : new SizeBudget(limit, ServerConfig.ImagesMaxUnpackedSize);
    }

    private static async Task UnsquashfsAsync(string file, string dest, CancellationToken ct)
    {
        try
        {
            await HostCommand.RunAsync("unsquashfs", ["-f", "-n", "-d", dest, file], HostCommandOptions.Default, ct); // dies with the daemon
        }
        catch (HostCommandFailedException e)
        {
            throw new BadRequestException($"Failed unpacking squashfs rootfs: {e.Stderr}");
        }
    }
}
