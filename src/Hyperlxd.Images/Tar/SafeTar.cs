using System.Formats.Tar;
using Hyperlxd.Core;

namespace Hyperlxd.Images.Tar;

/// <summary>
/// Walks a tar stream with tar's semantics and refuses what could escape the target directory when
/// unpacked. As GNU tar: a leading <c>/</c> is stripped, and a later member replaces an earlier one of
/// the same name (file → symlink, symlink → directory…; a directory only while nothing is in it, and a
/// directory over a directory keeps it). Refused: <c>..</c> anywhere, members under a symlink of the
/// archive or under a non-directory, relative symlinks that climb out, hard links to anything that is
/// not a file already in the archive, and device nodes. The same walk validates an upload and unpacks
/// an image, so what was accepted is exactly what gets written.
/// </summary>
public sealed class SafeTar
{
    /// <summary>What a path holds so far: replacement rules depend on it.</summary>
    private enum Kind { Directory, File, Symlink }

    private readonly Dictionary<string, Kind> _kinds = new(StringComparer.Ordinal);

    /// <summary>Members directly under each directory, so that only an empty one can be replaced.</summary>
    private readonly Dictionary<string, int> _children = new(StringComparer.Ordinal);

    /// <summary>Called for every accepted entry with its normalised relative path (never the root itself).</summary>
    public delegate void EntryHandler(TarEntry entry, string path);

    /// <param name="budget">Counts the uncompressed tar (headers and data: at least what unpacking writes).</param>
    public static void Walk(Stream tar, EntryHandler handler, SizeBudget? budget = null)
    {
        var state = new SafeTar();
        var input = budget is null ? tar : new CountingStream(tar, budget);
        try
        {
            using var reader = new TarReader(input, leaveOpen: true);
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
            input.CopyTo(Stream.Null);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException or IOException
                                      or ArgumentException or ZstdSharp.ZstdException)
        {
            throw new BadRequestException($"Invalid image tarball: {e.Message}", e);
        }
    }

    /// <summary>Normalises "/./a//b/" to "a/b" (leading slashes stripped, as tar does); null for the archive's root.</summary>
    public static string? Normalize(string name, string what)
    {
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
        var kind = KindOf(entry);
        CheckParents(entry.Name, path);
        if (_kinds.TryGetValue(path, out var old))
        {
            // A directory over a directory keeps it; anything else takes the place of what was there,
            // which for a directory only works while it is empty (rmdir, as GNU tar).
            if (old == Kind.Directory && kind != Kind.Directory && _children.GetValueOrDefault(path) > 0)
            {
                throw new BadRequestException($"Invalid image tarball: entry \"{entry.Name}\" replaces the non-empty directory \"{path}\"");
            }
        }
        switch (entry.EntryType)
        {
            case TarEntryType.SymbolicLink:
                CheckSymlink(path, entry.LinkName);
                break;
            case TarEntryType.HardLink:
                var target = Normalize(entry.LinkName, $"hard link target of \"{entry.Name}\"");
                if (target is null || _kinds.GetValueOrDefault(target, Kind.Directory) != Kind.File)
                {
                    throw new BadRequestException($"Invalid image tarball: hard link \"{entry.Name}\" points outside the image (\"{entry.LinkName}\")");
                }
                break;
        }
        Record(path, kind);
        return path;
    }

    private static Kind KindOf(TarEntry entry) => entry.EntryType switch
    {
        TarEntryType.Directory => Kind.Directory,
        TarEntryType.SymbolicLink => Kind.Symlink,
        TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile or TarEntryType.Fifo
            or TarEntryType.HardLink => Kind.File,
        TarEntryType.CharacterDevice or TarEntryType.BlockDevice =>
            throw new BadRequestException($"Invalid image tarball: device node \"{entry.Name}\" is not allowed"),
        _ => throw new BadRequestException($"Invalid image tarball: entry \"{entry.Name}\" has an unsupported type ({entry.EntryType})"),
    };

    /// <summary>Every parent must be a directory (made implicitly when absent): a symlink would send the write wherever it points.</summary>
    private void CheckParents(string name, string path)
    {
        for (var i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1))
        {
            var parent = path[..i];
            switch (_kinds.GetValueOrDefault(parent, Kind.Directory))
            {
                case Kind.Symlink:
                    throw new BadRequestException($"Invalid image tarball: entry \"{name}\" goes through the symlink \"{parent}\"");
                case Kind.File:
                    throw new BadRequestException($"Invalid image tarball: entry \"{name}\" is under \"{parent}\", which is not a directory");
            }
        }
    }

    private void Record(string path, Kind kind)
    {
        // Implicit parents are directories the extractor makes.
        var start = 0;
        for (var i = path.IndexOf('/'); i >= 0; i = path.IndexOf('/', i + 1))
        {
            Add(path[..i], Kind.Directory, start == 0 ? "" : path[..(start - 1)]);
            start = i + 1;
        }
        Add(path, kind, start == 0 ? "" : path[..(start - 1)]);
    }

    private void Add(string path, Kind kind, string parent)
    {
        if (_kinds.TryAdd(path, kind))
        {
            _children[parent] = _children.GetValueOrDefault(parent) + 1;
        }
        else if (kind != Kind.Directory || _kinds[path] != Kind.Directory)
        {
            _kinds[path] = kind;
        }
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
