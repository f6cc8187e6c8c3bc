using Hyperlxd.Images.Tar;

namespace Hyperlxd.Images;

/// <summary>One file of an export: the multipart part name LXD uses, a file name for the client, the stored path.</summary>
public sealed record ExportFile(string Part, string Filename, string Path);

public sealed partial class ImageStore
{
    /// <summary>The original bytes, as uploaded: one file (unified) or metadata + rootfs (split).</summary>
    public async Task<List<ExportFile>> ExportAsync(string fingerprintOrPrefix, CancellationToken ct)
    {
        var image = await GetAsync(fingerprintOrPrefix, ct);
        var fp = image.Fingerprint;
        var main = PathOf(fp);
        var name = image.Filename.Length > 0 ? System.IO.Path.GetFileName(image.Filename) : fp + Extension(Compression.Detect(main));
        var files = new List<ExportFile> { new("metadata", name, main) };
        var rootfs = RootfsPathOf(fp);
        if (File.Exists(rootfs))
        {
            var kind = Compression.Detect(rootfs);
            files.Add(new(kind == FileKind.Qcow2 ? "rootfs.img" : "rootfs", fp + Extension(kind), rootfs));
        }
        return files;
    }

    private static string Extension(FileKind kind) => kind switch
    {
        FileKind.Gzip => ".tar.gz",
        FileKind.Xz => ".tar.xz",
        FileKind.Zstd => ".tar.zst",
        FileKind.Bzip2 => ".tar.bz2",
        FileKind.Squashfs => ".squashfs",
        FileKind.Qcow2 => ".img",
        _ => ".tar",
    };
}
