using Hyperlxd.Containers.Interop;
using Hyperlxd.Core.Instances;
using Microsoft.Win32.SafeHandles;
using static Hyperlxd.Containers.Interop.Syscalls;

namespace Hyperlxd.Containers;

/// <summary>
/// File access on the container's root filesystem from the host, every lookup through
/// <c>openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)</c>: "..", absolute links and links to the host
/// all resolve inside the root. Ids are translated with the map the disk is shifted to (none for an
/// unshifted, idmapped root: ids inside are the disk's). (Files on the
/// container's own mounts — /dev, /proc, disk devices — are not visible this way.)
/// </summary>
public sealed partial class ContainerDriver
{
    private const ulong InRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

    public Task<InstanceFile> GetFileAsync(InstanceSpec spec, string path, CancellationToken ct)
    {
        var map = IdMap.OnDisk(spec.Config);
        using var root = OpenRoot(spec);
        var fd = OpenAt2(root.Fd, Relative(path), O_PATH | O_NOFOLLOW, 0, InRoot);
        FileFailed(fd, path);
        using var node = new FdHandle(fd);
        Check(FStat(fd, out var st), "Failed reading " + path);
        var uid = map?.ToContainer(st.Uid) ?? st.Uid;
        var gid = map?.ToContainer(st.Gid) ?? st.Gid;
        var mode = st.Mode & 0xFFF;
        InstanceFile result;
        switch (st.Mode & S_IFMT)
        {
            case S_IFLNK:
                result = new InstanceFile(FileType.Symlink, uid, gid, mode, null, null, ReadLinkEmpty(fd));
                break;
            case S_IFDIR:
                var entries = Directory.EnumerateFileSystemEntries($"/proc/self/fd/{fd}").Select(e => Path.GetFileName(e)!).Order(StringComparer.Ordinal).ToList();
                result = new InstanceFile(FileType.Directory, uid, gid, mode, null, entries, null);
                break;
            case S_IFREG:
                var rfd = OpenAt2(root.Fd, Relative(path), O_RDONLY | O_NOFOLLOW, 0, InRoot);
                FileFailed(rfd, path);
                result = new InstanceFile(FileType.File, uid, gid, mode, new FileStream(new SafeFileHandle(rfd, true), FileAccess.Read, 1), null, null);
                break;
            default:
                throw new BadRequestException($"Bad file type: \"{path}\" is not a regular file, directory or symlink");
        }
        return Task.FromResult(result);
    }

    public async Task PutFileAsync(InstanceSpec spec, string path, FileWrite write, Stream content, CancellationToken ct)
    {
        var map = IdMap.OnDisk(spec.Config);
        var (dir, name) = Split(path);
        using var root = OpenRoot(spec);
        var dfd = OpenAt2(root.Fd, dir, O_PATH | O_DIRECTORY, 0, InRoot);
        FileFailed(dfd, Path.GetDirectoryName(path) ?? "/");
        using var parent = new FdHandle(dfd);
        uint Uid(uint? id) => map?.ToHost(id ?? 0) ?? id ?? 0;
        uint Gid(uint? id) => map?.ToHost(id ?? 0) ?? id ?? 0;
        var exists = LStatAt(dfd, name, out var st) == 0;
        switch (write.Type)
        {
            case FileType.Symlink:
                if (string.IsNullOrEmpty(write.Target))
                {
                    throw new BadRequestException("Invalid symlink: the target is empty");
                }
                if (exists)
                {
                    Check(Unlink(dfd, name, (st.Mode & S_IFMT) == S_IFDIR), "Failed replacing " + path);
                }
                Check(SymLinkAt(write.Target, dfd, name), "Failed creating " + path);
                Check(LChownAt(dfd, name, Uid(write.Uid), Gid(write.Gid)), "Failed chown " + path);
                return;
            case FileType.Directory:
                if (!exists)
                {
                    Check(MkDirAt(dfd, name, write.Mode ?? 0x1ED), "Failed creating " + path);
                }
                else if ((st.Mode & S_IFMT) != S_IFDIR)
                {
                    throw new BadRequestException($"Failed creating \"{path}\": a file of another type exists");
                }
                var d = OpenAt2(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, InRoot);
                FileFailed(d, path);
                using (var dirFd = new FdHandle(d))
                {
                    SetOwner(d, !exists, write, Uid(write.Uid), Gid(write.Gid), 0x1ED, path);
                }
                return;
            default:
                if (exists && (st.Mode & S_IFMT) == S_IFDIR)
                {
                    throw new BadRequestException($"Failed writing \"{path}\": it is a directory");
                }
                // A link as the last component resolves inside the root too (as LXD follows it in the container).
                var flags = O_WRONLY | O_CREAT | (write.Append ? O_APPEND : O_TRUNC);
                var fd = OpenAt2(root.Fd, Relative(path), flags, write.Mode ?? 0x1A4, InRoot);
                FileFailed(fd, path);
                await using (var fs = new FileStream(new SafeFileHandle(fd, true), FileAccess.Write, 1))
                {
                    SetOwner(fd, !exists, write, Uid(write.Uid), Gid(write.Gid), 0x1A4, path);
                    await content.CopyToAsync(fs, ct);
                }
                return;
        }
    }

    /// <summary>New nodes get root (mapped) and the default mode; existing ones change only what is asked.</summary>
    private static void SetOwner(int fd, bool created, FileWrite write, uint uid, uint gid, uint defaultMode, string path)
    {
        if (created || write.Uid is not null || write.Gid is not null)
        {
            Check(FStat(fd, out var st), "Failed reading " + path);
            Check(FChownEmpty(fd, write.Uid is null && !created ? st.Uid : uid, write.Gid is null && !created ? st.Gid : gid), "Failed chown " + path);
        }
        if (created || write.Mode is not null)
        {
            Check(FChmod(fd, write.Mode ?? defaultMode), "Failed chmod " + path);
        }
    }

    public Task DeleteFileAsync(InstanceSpec spec, string path, CancellationToken ct)
    {
        var (dir, name) = Split(path);
        using var root = OpenRoot(spec);
        var dfd = OpenAt2(root.Fd, dir, O_PATH | O_DIRECTORY, 0, InRoot);
        FileFailed(dfd, Path.GetDirectoryName(path) ?? "/");
        using var parent = new FdHandle(dfd);
        FileFailed(LStatAt(dfd, name, out var st), path);
        var rc = Unlink(dfd, name, (st.Mode & S_IFMT) == S_IFDIR);
        if (rc == -39)
        {
            throw new BadRequestException($"Failed deleting \"{path}\": directory not empty");
        }
        Check(rc, "Failed deleting " + path);
        return Task.CompletedTask;
    }

    private static FdHandle OpenRoot(InstanceSpec spec)
    {
        var fd = Open(SpecWriter.RootFs(spec), O_PATH | O_DIRECTORY);
        Check(fd, "Failed opening the root of instance " + spec.Name);
        return new FdHandle(fd);
    }

    private static string Relative(string path)
    {
        if (string.IsNullOrEmpty(path) || path.Contains('\0'))
        {
            throw new BadRequestException("Invalid path: it is empty");
        }
        return path.TrimStart('/') is { Length: > 0 } rel ? rel : ".";
    }

    /// <summary>(parent, last component); the last component must be a real name.</summary>
    private static (string Dir, string Name) Split(string path)
    {
        var rel = Relative(path).TrimEnd('/');
        var slash = rel.LastIndexOf('/');
        var name = slash < 0 ? rel : rel[(slash + 1)..];
        if (name is "" or "." or "..")
        {
            throw new BadRequestException($"Invalid path \"{path}\": it must name a file");
        }
        return (slash < 0 ? "." : rel[..slash], name);
    }

    private static void FileFailed(int rc, string path)
    {
        if (rc == -ENOENT)
        {
            throw new NotFoundException($"File not found: \"{path}\"");
        }
        if (rc == -40)
        {
            throw new BadRequestException($"Failed opening \"{path}\": it is a symlink");
        }
        if (rc == -18)
        {
            throw new ForbiddenException($"Path \"{path}\" leads out of the instance");
        }
        Check(rc, $"Failed opening \"{path}\"");
    }

    private readonly struct FdHandle(int fd) : IDisposable
    {
        public int Fd { get; } = fd;

        public void Dispose() => Close(Fd);
    }
}
