namespace Hyperlxd.Core.Images;

/// <summary>
/// What the storage tier needs from the image store (implemented by Hyperlxd.Images): the unpacked
/// content of an image, laid out as LXD lays out an image volume — <c>metadata.yaml</c>,
/// <c>templates/</c>, and <c>rootfs/</c> (container) or <c>root.img</c> (virtual machine, a qcow2 disk,
/// with <c>boot/vmlinuz</c>, <c>boot/initrd.img</c> and <c>boot/cmdline</c> when the image boots a kernel directly).
/// </summary>
public interface IImageSource
{
    /// <summary>Unpacks image <paramref name="fingerprint"/> into the empty directory <paramref name="targetDir"/>.</summary>
    Task UnpackAsync(string fingerprint, string targetDir, CancellationToken ct);
}

/// <summary>
/// What the image store needs from the storage tier (implemented by Hyperlxd.Storage): dropping
/// the per-pool unpacked copies of an image when the image is deleted.
/// </summary>
public interface IImageCache
{
    Task EvictAsync(string fingerprint, CancellationToken ct);
}
