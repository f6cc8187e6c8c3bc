using System.Formats.Tar;
using Hyperlxd.Core;

namespace Hyperlxd.Images.Tar;

/// <summary>
/// Walks a tar stream and refuses what could escape the target directory when unpacked: absolute
/// or <c>..</c> paths, entries reached through a symlink, relative symlinks that climb out,
/// hard links to anything outside or not yet seen, and device nodes. The same walk validates an
/// upload and unpacks an image, so what was accepted is exactly what gets written.
/// </summary>
public sealed class SafeTar
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly HashSet<string> _symlinks = new(StringComparer.Ordinal);

    /// <summary>Called for every accepted entry with its normalised relative path ("" for the root itself).</summary>
    public delegate void EntryHandler(TarEntry entry, string path);

    public static void Walk(Stream tar, EntryHandler handler)
    {
        var state = new SafeTar();
        try
        {
            using var reader = new TarReader(tar, leaveOpen: true);
            while (reader.GetNextEntry() is { } entry)
            {
                var path = state.Check(entry);
                if (path is null)
                {
                    continue;
                }
                handler(entry, path);
                // Drive decompression through the data so a truncated or corrupt file is caught here.
                entry.DataStream?.CopyTo(Stream.Null);
            }
            // Read whatever follows the end marker too: a gzip trailer CRC is only checked at the very end.
            tar.CopyTo(Stream.Null);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or IOException
                                      or ArgumentException or ZstdSharp.ZstdException)
        {
            throw new BadRequestException($"Invalid image tarball: {e.Message}", e);
        }
    }

    /// <summary>Normalises "./a/b/" to "a/b"; null for the archive's own root entry.</summary>
    public static string? Normalize(string name, string what)
    {
        if (name.StartsWith('/'))
        {
            throw new BadRequestException($"Invalid image tarball: {what} \"{name}\" is an absolute path");
        }
        var parts = new List<string>();
        foreach (var p in name.Split('/'))
        {
            if (p is "" or ".")
            {
                continue;
            }
            if (p == "..")
            {
                throw new BadRequestException($"Invalid image tarball: {what} \"{name}\" escapes the image root");
            }
            parts.Add(p);
        }
        return parts.Count == 0 ? null : string.Join('/', parts);
    }

    private string? Check(TarEntry entry)
    {
        var path = Normalize(entry.Name, "entry");
        if (path is null)
        {
            return null;
        }
        // Any parent that is a symlink would make the write land wherever the link points.
        for (var i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1))
        {
            if (_symlinks.Contains(path[..i]))
            {
                throw new BadRequestException($"Invalid image tarball: entry \"{entry.Name}\" goes through the symlink \"{path[..i]}\"");
            }
        }
        if (_symlinks.Contains(path))
        {
            throw new BadRequestException($"Invalid image tarball: entry \"{entry.Name}\" replaces the symlink \"{path}\"");
        }
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
            case TarEntryType.RegularFile:
            case TarEntryType.V7RegularFile:
            case TarEntryType.ContiguousFile:
            case TarEntryType.Fifo:
                break;
            case TarEntryType.SymbolicLink:
                if (_seen.Contains(path))
                {
                    throw new BadRequestException($"Invalid image tarball: symlink \"{entry.Name}\" replaces an earlier entry");
                }
                CheckSymlink(path, entry.LinkName);
                _symlinks.Add(path);
                break;
            case TarEntryType.HardLink:
                var target = Normalize(entry.LinkName, $"hard link target of \"{entry.Name}\"");
                if (target is null || !_seen.Contains(target) || _symlinks.Contains(target))
                {
                    throw new BadRequestException($"Invalid image tarball: hard link \"{entry.Name}\" points outside the image (\"{entry.LinkName}\")");
                }
                break;
            case TarEntryType.CharacterDevice:
            case TarEntryType.BlockDevice:
                throw new BadRequestException($"Invalid image tarball: device node \"{entry.Name}\" is not allowed");
            default:
                throw new BadRequestException($"Invalid image tarball: entry \"{entry.Name}\" has an unsupported type ({entry.EntryType})");
        }
        _seen.Add(path);
        return path;
    }

    /// <summary>
    /// Absolute targets resolve inside the instance's root at run time (/bin/sh → /bin/busybox),
    /// so only relative targets can climb out of the tree.
    /// </summary>
    private static void CheckSymlink(string path, string target)
    {
        if (target.Length == 0 || target.StartsWith('/'))
        {
            return;
        }
        var depth = path.Count(c => c == '/');
        foreach (var p in target.Split('/'))
        {
            if (p is "" or ".")
            {
                continue;
            }
            depth += p == ".." ? -1 : 1;
            if (depth < 0)
            {
                throw new BadRequestException($"Invalid image tarball: symlink \"{path}\" points outside the image (\"{target}\")");
            }
        }
    }
}
