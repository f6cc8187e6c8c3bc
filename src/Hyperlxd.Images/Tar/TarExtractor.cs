using System.Formats.Tar;
using System.Text;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Images.Tar;

/// <summary>
/// Unpacks a tar stream through <see cref="SafeTar"/> into a directory, keeping modes (setuid and
/// setgid included), owners, mtimes and the safe extended attributes (<see cref="TarXattrs"/>). <paramref name="map"/> picks which entries go where (null
/// skips one). A member that replaces an earlier one removes it first; nothing on the way to a
/// member is ever a symlink (checked on disk too, not only in the archive's bookkeeping).
/// </summary>
public static class TarExtractor
{
    private const uint IfMt = 0xF000, IfDir = 0x4000;

    public static void Extract(Stream tar, string targetDir, Func<string, string?> map, SizeBudget? budget = null)
    {
        var dirTimes = new List<(string Path, DateTimeOffset Time)>();
        SafeTar.Walk(tar, (entry, path) =>
        {
            var rel = map(path);
            if (rel is null)
            {
                return;
            }
            var dest = Path.Combine(targetDir, rel);
            EnsureParents(targetDir, rel);
            var existing = LstatType(dest);
            if (existing != 0 && !(existing == IfDir && entry.EntryType == TarEntryType.Directory))
            {
                // tar's replacement: SafeTar let only an empty directory be replaced.
                if (existing == IfDir)
                {
                    Directory.Delete(dest);
                }
                else
                {
                    File.Delete(dest);
                }
            }
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(dest);
                    dirTimes.Add((dest, entry.ModificationTime));
                    break;
                case TarEntryType.SymbolicLink:
                    File.CreateSymbolicLink(dest, entry.LinkName);
                    break;
                case TarEntryType.HardLink:
                    var target = map(SafeTar.Normalize(entry.LinkName, "hard link")!);
                    if (target is not null)
                    {
                        Link(Path.Combine(targetDir, target), dest);
                    }
                    break;
                case TarEntryType.Fifo:
                    Mkfifo(dest);
                    break;
                default:
                    using (var f = new FileStream(dest, FileMode.CreateNew, FileAccess.Write))
                    {
                        entry.DataStream?.CopyTo(f);
                    }
                    File.SetLastWriteTimeUtc(dest, entry.ModificationTime.UtcDateTime);
                    break;
            }
            if (entry.EntryType is TarEntryType.HardLink)
            {
                return;
            }
            if (entry is PosixTarEntry p)
            {
                Chown(dest, p.Uid, p.Gid);
            }
            // After the chown: chown clears setuid and setgid.
            if (entry.EntryType is not TarEntryType.SymbolicLink)
            {
                File.SetUnixFileMode(dest, entry.Mode);
            }
            // Last: a chown clears file capabilities.
            TarXattrs.Restore(entry, dest);
        }, budget);
        // Directory mtimes last: writing into a directory changes its mtime.
        foreach (var (dir, time) in dirTimes)
        {
            Directory.SetLastWriteTimeUtc(dir, time.UtcDateTime);
        }
    }

    /// <summary>Makes the parents of <paramref name="rel"/> below <paramref name="root"/>; a symlink or file on the way is an error.</summary>
    private static void EnsureParents(string root, string rel)
    {
        var dir = root;
        var parts = rel.Split('/');
        for (var i = 0; i < parts.Length - 1; i++)
        {
            dir = Path.Combine(dir, parts[i]);
            switch (LstatType(dir))
            {
                case 0:
                    Directory.CreateDirectory(dir);
                    break;
                case IfDir:
                    break;
                default:
                    throw new InvalidDataException($"\"{rel}\" is under \"{string.Join('/', parts[..(i + 1)])}\", which is not a directory");
            }
        }
    }

    /// <summary>The S_IFMT bits of <paramref name="path"/> itself (a symlink is not followed); 0 when absent.</summary>
    private static uint LstatType(string path) => Syscalls.TryLStat(path, out var st) ? st.Mode & IfMt : 0u;

    private static void Chown(string path, int uid, int gid) => Syscalls.Lchown(path, unchecked((uint)uid), unchecked((uint)gid));

    private static void Link(string existing, string dest) => Syscalls.Link(existing, dest);

    private static void Mkfifo(string dest) => Syscalls.MkFifo(dest, 0x1a4); // 0644, as tar's own mode is applied after
}
