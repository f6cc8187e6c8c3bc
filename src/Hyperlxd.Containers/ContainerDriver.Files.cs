using System.Text;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// The file API through the native file broker (<see cref="FileBroker"/>). A running container is served from
/// inside: its own mount namespace (tmpfs /dev and /dev/shm, disks, whatever it mounted) and ids as it sees
/// them. A stopped one from the host on its rootfs, as LXD mounts it, with ids translated through the map
/// the disk is shifted to (none for an unshifted root: ids inside are the disk's). Either way every lookup
/// is <c>openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)</c>: "..", absolute links and links to the host
/// all resolve inside the root. File content is streamed by the daemon through the fd the broker opened.
/// </summary>
public sealed partial class ContainerDriver
{
    public async Task<InstanceFile> GetFileAsync(InstanceSpec spec, string path, CancellationToken ct)
    {
        return await WithBrokerAsync(spec, (broker, map) =>
        {
            var r = broker.Call(FileOp.Get, path);
            var content = r.Fd is { } fd ? new FileStream(fd.ToFileHandle(), FileAccess.Read, 1) : null;
            var (uid, gid, mode) = (ToContainer(map, r.Uid, true), ToContainer(map, r.Gid, false), r.Mode & 0xFFF);
            return FileStatus.KindOf(r.Mode) switch
            {
                NodeKind.Symlink => new InstanceFile(FileType.Symlink, uid, gid, mode, null, null, Encoding.UTF8.GetString(r.Data)),
                NodeKind.Directory => new InstanceFile(FileType.Directory, uid, gid, mode, null, Entries(r.Data), null),
                _ => new InstanceFile(FileType.File, uid, gid, mode, content, null, null),
            };
        }, ct);
    }

    public async Task PutFileAsync(InstanceSpec spec, string path, FileWrite write, Stream content, CancellationToken ct)
    {
        var reply = await WithBrokerAsync(spec, (broker, map) =>
        {
            var (uid, gid, mode) = (ToHost(map, write.Uid, true), ToHost(map, write.Gid, false), write.Mode ?? FileBroker.None);
            var (defUid, defGid) = map?.Root ?? (0, 0);
            return write.Type switch
            {
                FileType.Symlink => broker.Call(FileOp.Symlink, path, uid, gid, target: write.Target, defUid: defUid, defGid: defGid),
                FileType.Directory => broker.Call(FileOp.Mkdir, path, uid, gid, mode, defUid: defUid, defGid: defGid),
                _ => broker.Call(FileOp.Put, path, uid, gid, mode, write.Append, defUid: defUid, defGid: defGid),
            };
        }, ct);
        if (reply.Fd is { } fd)
        {
            // Created (or truncated) and owned by the broker; the content goes straight from the request.
            await using var fs = new FileStream(fd.ToFileHandle(), FileAccess.Write, 1);
            await content.CopyToAsync(fs, ct);
        }
    }

    public async Task DeleteFileAsync(InstanceSpec spec, string path, CancellationToken ct) =>
        await WithBrokerAsync(spec, (broker, _) => broker.Call(FileOp.Delete, path), ct);

    /// <summary>
    /// One broker for one request: inside the container while it runs (ids as it sees them: no map), else
    /// on the rootfs (ids through the map the disk is shifted to).
    /// </summary>
    private async Task<T> WithBrokerAsync<T>(InstanceSpec spec, Func<FileBroker, IdMap?, T> call, CancellationToken ct)
    {
        if (await StatusAsync(spec.Name, ct) is { Running: true } status)
        {
            try
            {
                using var inside = FileBroker.Attach(_nsexec, status.InitPid, ct);
                return call(inside, null);
            }
            catch (BrokerStartException e) when (e.Errno == Errno.ESRCH)
            {
                // Stopped meanwhile: its rootfs is the place now.
            }
        }
        using var broker = FileBroker.OnRoot(_nsexec, SpecWriter.RootFs(spec), ct);
        return call(broker, IdMap.OnDisk(spec.Config));
    }

    /// <summary>An id for the broker on a shifted rootfs: one the container maps (as the kernel insists inside it).</summary>
    private static uint ToHost(IdMap? map, uint? id, bool uid) => id switch
    {
        null => FileBroker.None,
        { } v when map is not null => map.ToHost(v, uid) ?? throw new BadRequestException($"Invalid {(uid ? "uid" : "gid")} {v}: the instance does not map it"),
        { } v => v,
    };

    private static uint ToContainer(IdMap? map, uint id, bool uid) => map?.ToContainer(id, uid) ?? id;

    private static List<string> Entries(byte[] names) =>
        Encoding.UTF8.GetString(names).Split('\0', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
}
