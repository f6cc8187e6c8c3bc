using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Storage;

/// <summary>
/// A VM volume's disk, <c>root.img</c> (always qcow2: the image store checks it). The header is read
/// directly (virtual size, backing file: a few bytes, no process); changes go through qemu-img.
/// </summary>
public static class VmDisk
{
    public const string FileName = "root.img";

    /// <summary>qcow2 sizes are whole sectors.</summary>
    private const long Sector = 512;

    public static string PathIn(string volumeDir) => Path.Combine(volumeDir, FileName);

    /// <summary>The guest-visible size in bytes (qcow2 header offset 24).</summary>
    public static long VirtualSize(string disk)
    {
        Span<byte> head = stackalloc byte[32];
        using (var f = File.OpenRead(disk))
        {
            f.ReadExactly(head);
        }
        CheckMagic(head, disk);
        return (long)BinaryPrimitives.ReadUInt64BigEndian(head[24..]);
    }

    /// <summary>The backing file the header names (header offsets 8 and 16), or null for a self-contained disk.</summary>
    public static string? BackingFile(string disk)
    {
        using var f = File.OpenRead(disk);
        Span<byte> head = stackalloc byte[20];
        if (f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length || !IsQcow2(head))
        {
            return null;
        }
        var offset = (long)BinaryPrimitives.ReadUInt64BigEndian(head[8..]);
        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(head[16..]);
        if (offset == 0 || length is <= 0 or > 1023)
        {
            return null;
        }
        var name = new byte[length];
        f.Seek(offset, SeekOrigin.Begin);
        f.ReadExactly(name);
        return Encoding.UTF8.GetString(name);
    }

    /// <summary>
    /// A new qcow2 at <paramref name="overlay"/> whose reads fall through to <paramref name="backing"/>
    /// (absolute: the overlay moves with snapshots and renames, the image volume does not). The format is
    /// always named (-F): a probed backing format is a security hole.
    /// </summary>
    public static Task CreateOverlayAsync(string backing, string overlay) =>
        Host.RunAsync("qemu-img", "create", "-q", "-f", "qcow2", "-b", Path.GetFullPath(backing), "-F", "qcow2", overlay);

    /// <summary>
    /// Grows the disk to the root disk's <c>size</c>; the same size is a no-op, a smaller one a 400
    /// (shrinking would cut the guest's filesystem). A running VM holds the disk's write lock: qemu-img
    /// then fails, and the error says to stop the instance.
    /// </summary>
    public static async Task GrowAsync(string disk, string size)
    {
        var wanted = Validators.ParseSize(size) ?? throw new BadRequestException($"Invalid value for root disk \"size\": \"{size}\" must be a size such as 10GiB");
        wanted = (wanted + Sector - 1) / Sector * Sector;
        var current = VirtualSize(disk);
        if (wanted == current)
        {
            return;
        }
        if (wanted < current)
        {
            throw new BadRequestException($"Invalid value for root disk \"size\": \"{size}\" is smaller than the virtual machine's disk ({current} bytes); VM disks can only grow");
        }
        try
        {
            await Host.RunAsync("qemu-img", "resize", "-q", "-f", "qcow2", disk, wanted.ToString(CultureInfo.InvariantCulture));
        }
        catch (HostCommandException e) when (e.Message.Contains("lock", StringComparison.OrdinalIgnoreCase))
        {
            throw new BadRequestException("The root disk of a running virtual machine cannot be resized: stop the instance first");
        }
    }

    /// <summary>
    /// The guest-visible contents of <paramref name="disk"/> as a raw file (backing chain flattened), for a backup.
    /// <c>-U</c>: a running VM holds the disk's lock; the copy is then crash-consistent, as LXD's of a running VM.
    /// </summary>
    public static Task ToRawAsync(string disk, string raw) =>
        Host.RunAsync("qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", disk, raw);

    /// <summary>A self-contained qcow2 copy of <paramref name="disk"/> (backing chain flattened) at <paramref name="target"/>; <c>-U</c> as for <see cref="ToRawAsync"/>.</summary>
    public static Task FlattenAsync(string disk, string target) =>
        Host.RunAsync("qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", disk, target);

    /// <summary>A self-contained qcow2 at <paramref name="disk"/> from a raw file (a backup's disk), its format named, never probed.</summary>
    public static Task FromRawAsync(string raw, string disk) =>
        Host.RunAsync("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, disk);

    private static bool IsQcow2(ReadOnlySpan<byte> head) => head.StartsWith(new byte[] { (byte)'Q', (byte)'F', (byte)'I', 0xfb });

    private static void CheckMagic(ReadOnlySpan<byte> head, string disk)
    {
        if (!IsQcow2(head))
        {
            throw new InvalidOperationException($"{disk} is not a qcow2 disk");
        }
    }
}
