using System.Formats.Tar;

namespace Hyperlxd.Images.Tar;

/// <summary>
/// Unpacks a tar stream through <see cref="SafeTar"/> into an empty directory, keeping modes,
/// owners and mtimes. <paramref name="map"/> picks which entries go where (null skips one).
/// </summary>
public static class TarExtractor
{
    public static void Extract(Stream tar, string targetDir, Func<string, string?> map)
    {
        var dirTimes = new List<(string Path, DateTimeOffset Time)>();
        SafeTar.Walk(tar, (entry, path) =>
        {
            var rel = map(path);
            if (rel is null)
            {
                return;
            }
            var dest = rel.Length == 0 ? targetDir : Path.Combine(targetDir, rel);
            var parent = Path.GetDirectoryName(dest)!;
            Directory.CreateDirectory(parent);
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
            if (entry.EntryType is not TarEntryType.SymbolicLink and not TarEntryType.HardLink)
            {
                File.SetUnixFileMode(dest, entry.Mode);
            }
            if (entry is PosixTarEntry p)
            {
                Chown(dest, p.Uid, p.Gid);
            }
        });
        // Directory mtimes last: writing into a directory changes its mtime.
        foreach (var (dir, time) in dirTimes)
        {
            Directory.SetLastWriteTimeUtc(dir, time.UtcDateTime);
        }
    }

    private static unsafe void Chown(string path, int uid, int gid)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            Tmds.Linux.LibC.lchown(p, (uint)uid, (uint)gid);
        }
    }

    private static unsafe void Link(string existing, string dest)
    {
        var a = System.Text.Encoding.UTF8.GetBytes(existing + "\0");
        var b = System.Text.Encoding.UTF8.GetBytes(dest + "\0");
        fixed (byte* pa = a, pb = b)
        {
            if (Tmds.Linux.LibC.link(pa, pb) != 0)
            {
                throw new IOException($"link {dest} → {existing} failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
            }
        }
    }

    private static unsafe void Mkfifo(string dest)
    {
        var a = System.Text.Encoding.UTF8.GetBytes(dest + "\0");
        fixed (byte* pa = a)
        {
            Tmds.Linux.LibC.mkfifo(pa, 0x1a4);
        }
    }
}
