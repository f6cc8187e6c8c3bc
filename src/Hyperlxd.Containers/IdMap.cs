using System.Globalization;
using Hyperlxd.Containers.Interop;

namespace Hyperlxd.Containers;

/// <summary>
/// The id range of an unprivileged container (uid/gid 0 inside = <see cref="Base"/> on the host) and
/// the chown shift of its root filesystem into that range.
/// </summary>
internal sealed record IdMap(long Base, long Size)
{
    /// <summary>LXD's <c>volatile.idmap.current</c> JSON.</summary>
    public string ToLxdJson() =>
        $"[{{\"Isuid\":true,\"Isgid\":false,\"Hostid\":{Base},\"Nsid\":0,\"Maprange\":{Size}}}," +
        $"{{\"Isuid\":false,\"Isgid\":true,\"Hostid\":{Base},\"Nsid\":0,\"Maprange\":{Size}}}]";

    public static bool IsPrivileged(IReadOnlyDictionary<string, string> config) =>
        config.TryGetValue("security.privileged", out var v) && v == "true";

    /// <summary>The map the disk is shifted to (<c>volatile.last_state.idmap</c>), or none (ids as in the image).</summary>
    public static IdMap? OnDisk(IReadOnlyDictionary<string, string> config) =>
        config.TryGetValue("volatile.last_state.idmap", out var json) ? FromLxdJson(json) : null;

    public static IdMap? FromLxdJson(string json)
    {
        var m = System.Text.RegularExpressions.Regex.Match(json, "\"Hostid\":(\\d+),\"Nsid\":0,\"Maprange\":(\\d+)");
        return m.Success
            ? new IdMap(long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture))
            : null;
    }

    public uint ToHost(uint id) => id < Size ? (uint)(id + Base) : id;

    public uint ToContainer(uint id) => id >= Base && id < Base + Size ? (uint)(id - Base) : id;

    /// <summary>
    /// Re-owns every inode under <paramref name="root"/> from map <paramref name="from"/> (null = unshifted)
    /// to map <paramref name="to"/> (null = unshifted). lchown never follows links; chown clears
    /// setuid/setgid bits, so they are put back.
    /// </summary>
    public static void Shift(string root, IdMap? from, IdMap? to)
    {
        if (from == to)
        {
            return;
        }
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var path = stack.Pop();
            Syscalls.Check(Syscalls.LStat(path, out var st), "Failed reading " + path);
            var uid = from?.ToContainer(st.Uid) ?? st.Uid;
            var gid = from?.ToContainer(st.Gid) ?? st.Gid;
            var newUid = to?.ToHost(uid) ?? uid;
            var newGid = to?.ToHost(gid) ?? gid;
            var type = st.Mode & Syscalls.S_IFMT;
            if (newUid != st.Uid || newGid != st.Gid)
            {
                Syscalls.Check(Syscalls.Lchown(path, newUid, newGid), "Failed shifting " + path);
                if (type != Syscalls.S_IFLNK && (st.Mode & 0xC00) != 0)
                {
                    Syscalls.Check(Syscalls.Chmod(path, st.Mode & 0xFFF), "Failed restoring the mode of " + path);
                }
            }
            if (type == Syscalls.S_IFDIR)
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(path))
                {
                    stack.Push(entry);
                }
            }
        }
    }
}
