using System.Formats.Tar;
using System.Text;
using Hyperlxd.Core;
using Hyperlxd.Interop.Linux;
using Hyperlxd.Images.Tar;

namespace Hyperlxd.Images;

public sealed partial class ImageStore
{
    private const int MaxMetadataYaml = 1 << 20;

    internal sealed record Inspection(ImageMetadata Metadata, string Type);

    /// <summary>A unified tarball: metadata.yaml and templates/ next to rootfs/ (container) or rootfs.img (VM, with optional boot/).</summary>
    internal static Inspection InspectUnified(string path, SizeBudget budget)
    {
        string? yaml = null;
        var type = (string?)null;
        var boot = new BootEntries();
        using (var tar = Compression.OpenTar(path, Compression.Detect(path)))
        {
            SafeTar.Walk(tar, (entry, name) =>
            {
                if (name == "metadata.yaml")
                {
                    yaml = ReadYaml(entry);
                }
                else if (name == "rootfs.img")
                {
                    if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
                    {
                        throw new BadRequestException("Invalid image tarball: rootfs.img is not a regular file");
                    }
                    CheckQcow2(entry.DataStream, "rootfs.img");
                    type = "virtual-machine";
                }
                else if (name == "rootfs" || name.StartsWith("rootfs/", StringComparison.Ordinal))
                {
                    type ??= "container";
                }
                else
                {
                    CheckBootEntry(entry, name, boot);
                }
            }, budget);
        }
        var meta = ImageMetadata.Parse(yaml ?? throw new BadRequestException("Invalid image tarball: metadata.yaml is missing"));
        if (type is null)
        {
            throw new BadRequestException("Invalid image tarball: it has neither rootfs/ nor rootfs.img");
        }
        boot.CheckFor(type);
        return new Inspection(meta, type);
    }

    /// <summary>
    /// A split image: a metadata tarball (with boot/ for a VM that boots a kernel) and a rootfs that is
    /// a tarball, a squashfs or a qcow2 disk (VM). <paramref name="rootfsPart"/> is the upload's part
    /// name: "rootfs.img" says VM, and then the file must be qcow2.
    /// </summary>
    internal static Inspection InspectSplit(string metaPath, string rootfsPath, string rootfsPart, SizeBudget budget)
    {
        string? yaml = null;
        var boot = new BootEntries();
        using (var tar = Compression.OpenTar(metaPath, Compression.Detect(metaPath)))
        {
            SafeTar.Walk(tar, (entry, name) =>
            {
                if (name == "metadata.yaml")
                {
                    yaml = ReadYaml(entry);
                }
                else
                {
                    CheckBootEntry(entry, name, boot);
                }
            }, budget);
        }
        var meta = ImageMetadata.Parse(yaml ?? throw new BadRequestException("Invalid image metadata tarball: metadata.yaml is missing"));
        var kind = Compression.Detect(rootfsPath);
        if (rootfsPart == "rootfs.img" || kind == FileKind.Qcow2)
        {
            CheckQcow2File(rootfsPath, rootfsPart == "rootfs.img" ? "rootfs.img" : "the rootfs file");
            budget.Charge(new FileInfo(rootfsPath).Length);
            boot.CheckFor("virtual-machine");
            return new Inspection(meta, "virtual-machine");
        }
        boot.CheckFor("container");
        if (kind == FileKind.Squashfs)
        {
            CheckSquashfs(rootfsPath, budget);
            return new Inspection(meta, "container");
        }
        using (var tar = Compression.OpenTar(rootfsPath, kind))
        {
            SafeTar.Walk(tar, (_, _) => { }, budget);
        }
        return new Inspection(meta, "container");
    }

    private static string ReadYaml(TarEntry entry)
    {
        if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null)
        {
            throw new BadRequestException("Invalid image tarball: metadata.yaml is not a regular file");
        }
        if (entry.Length > MaxMetadataYaml)
        {
            throw new BadRequestException($"Invalid image tarball: metadata.yaml is larger than {MaxMetadataYaml} bytes");
        }
        using var ms = new MemoryStream();
        entry.DataStream.CopyTo(ms);
        return new UTF8Encoding(false, true).GetString(ms.ToArray());
    }

    /// <summary>
    /// unsquashfs lists every entry (-lls) and fails on a corrupt superblock or table; it never
    /// writes outside its target when unpacking, and device nodes are refused here like in tarballs.
    /// The listed sizes (what unsquashfs writes, as it restores each file to its inode's size) are
    /// charged to <paramref name="budget"/> before anything is unpacked.
    /// </summary>
    private static void CheckSquashfs(string path, SizeBudget budget)
    {
        var p = HostCommand.Start("unsquashfs", ["-n", "-lls", path], HostCommandOptions.Default, Redirect.Stdout | Redirect.Stderr);
        using var _ = p.OwnPipes();
        var err = new StringBuilder();
        p.ErrorDataReceived += (_, e) =>
        {
            lock (err)
            {
                err.AppendLine(e.Data);
            }
        };
        p.BeginErrorReadLine();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            if (line.Length > 0 && line[0] is 'c' or 'b' && line.Contains("squashfs-root", StringComparison.Ordinal))
            {
                HostCommand.Kill(p);
                p.WaitForExit();
                throw new BadRequestException($"Invalid squashfs rootfs: device node \"{line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1]}\" is not allowed");
            }
            // "-rwxr-xr-x root/root 1009384 2023-01-01 00:00 squashfs-root/bin/busybox"
            var fields = line.Split(' ', 4, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 4 && long.TryParse(fields[2], System.Globalization.CultureInfo.InvariantCulture, out var size))
            {
                try
                {
                    budget.Charge(size);
                }
                catch
                {
                    HostCommand.Kill(p);
                    p.WaitForExit();
                    throw;
                }
            }
        }
        p.WaitForExit(); // and for the end of stderr
        if (p.ExitCode != 0)
        {
            lock (err)
            {
                throw new BadRequestException($"Invalid squashfs rootfs: {err.ToString().Trim()}");
            }
        }
    }
}
