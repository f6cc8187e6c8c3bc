using System.Buffers.Binary;
using System.Formats.Tar;
using System.Text;
using Hyperlxd.Core;

namespace Hyperlxd.Images;

/// <summary>
/// What a virtual-machine image may carry besides metadata and templates: its disk (<c>rootfs.img</c>,
/// a self-contained qcow2) and, for images that boot a kernel directly, exactly <c>boot/vmlinuz</c>,
/// <c>boot/initrd.img</c> and <c>boot/cmdline</c> (unpacked into the volume next to root.img).
/// </summary>
public sealed partial class ImageStore
{
    /// <summary>The only files allowed under boot/, with the most each may weigh.</summary>
    private static readonly Dictionary<string, long> BootFiles = new(StringComparer.Ordinal)
    {
        ["boot/vmlinuz"] = 256L << 20,
        ["boot/initrd.img"] = 1L << 30,
        ["boot/cmdline"] = 4096,
    };

    private const int Qcow2HeaderLength = 104;

    /// <summary>What the boot/ entries of a tarball said so far.</summary>
    internal sealed class BootEntries
    {
        public HashSet<string> Files { get; } = new(StringComparer.Ordinal);

        /// <summary>boot/ is for VM images only, and an initrd or a command line needs the kernel.</summary>
        public void CheckFor(string type)
        {
            if (Files.Count == 0)
            {
                return;
            }
            if (type != "virtual-machine")
            {
                throw new BadRequestException($"Invalid image tarball: boot/ entries ({string.Join(", ", Files.Order(StringComparer.Ordinal))}) are only allowed in virtual-machine images, this is a {type} image");
            }
            if (!Files.Contains("boot/vmlinuz"))
            {
                throw new BadRequestException("Invalid image tarball: boot/initrd.img and boot/cmdline need boot/vmlinuz");
            }
        }
    }

    /// <summary>Checks one tar entry when it is boot/ or under it; false when it is something else.</summary>
    internal static bool CheckBootEntry(TarEntry entry, string path, BootEntries seen)
    {
        if (path == "boot")
        {
            if (entry.EntryType != TarEntryType.Directory)
            {
                throw new BadRequestException("Invalid image tarball: boot must be a directory");
            }
            return true;
        }
        if (!path.StartsWith("boot/", StringComparison.Ordinal))
        {
            return false;
        }
        if (!BootFiles.TryGetValue(path, out var max))
        {
            throw new BadRequestException($"Invalid image tarball: \"{entry.Name}\" is not allowed under boot/ (only boot/vmlinuz, boot/initrd.img and boot/cmdline)");
        }
        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
        {
            throw new BadRequestException($"Invalid image tarball: {path} must be a regular file");
        }
        if (entry.Length > max)
        {
            throw new BadRequestException($"Invalid image tarball: {path} is larger than {max} bytes");
        }
        if (path == "boot/cmdline" && entry.DataStream is { } data)
        {
            CheckCmdline(data);
        }
        seen.Files.Add(path);
        return true;
    }

    /// <summary>One line of printable text: it becomes the guest kernel's command line as it is.</summary>
    private static void CheckCmdline(Stream data)
    {
        using var ms = new MemoryStream();
        data.CopyTo(ms);
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(ms.ToArray()).TrimEnd('\n');
        }
        catch (DecoderFallbackException)
        {
            throw new BadRequestException("Invalid image tarball: boot/cmdline is not UTF-8 text");
        }
        if (text.Any(c => char.IsControl(c)))
        {
            throw new BadRequestException("Invalid image tarball: boot/cmdline must be one line of printable text");
        }
    }

    /// <summary>Reads the head of a VM disk from a tar entry and checks it (the rest is skipped by the walk).</summary>
    internal static void CheckQcow2(Stream data, string what)
    {
        var head = new byte[Qcow2HeaderLength];
        var n = data.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        CheckQcow2Header(head.AsSpan(0, n), what);
    }

    internal static void CheckQcow2File(string path, string what)
    {
        using var f = File.OpenRead(path);
        CheckQcow2(f, what);
    }

    /// <summary>
    /// The disk must be qcow2 (magic <c>QFI\xfb</c>) and self-contained: a backing file or an external
    /// data file would make QEMU open a host path the image names. The rest of the header is QEMU's to judge.
    /// </summary>
    internal static void CheckQcow2Header(ReadOnlySpan<byte> head, string what)
    {
        if (head.Length < 72 || !head.StartsWith(new byte[] { (byte)'Q', (byte)'F', (byte)'I', 0xfb }))
        {
            throw new BadRequestException($"Invalid virtual-machine image: {what} is not a qcow2 disk image");
        }
        var version = BinaryPrimitives.ReadUInt32BigEndian(head[4..]);
        if (BinaryPrimitives.ReadUInt64BigEndian(head[8..]) != 0)
        {
            throw new BadRequestException($"Invalid virtual-machine image: {what} has a backing file (the disk must be self-contained)");
        }
        // Version 3: incompatible_features at offset 72, bit 2 = external data file.
        if (version == 3 && head.Length >= 80 && (BinaryPrimitives.ReadUInt64BigEndian(head[72..]) & 0x4) != 0)
        {
            throw new BadRequestException($"Invalid virtual-machine image: {what} uses an external data file (the disk must be self-contained)");
        }
    }
}
