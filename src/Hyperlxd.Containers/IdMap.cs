using System.Globalization;
using System.Text;
using System.Text.Json;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Containers;

/// <summary>One contiguous mapping: container ids <see cref="NsId"/>… are host ids <see cref="HostId"/>… (LXD's IdmapEntry).</summary>
internal readonly record struct IdMapEntry(bool IsUid, bool IsGid, long HostId, long NsId, long Range)
{
    public bool SameKind(IdMapEntry o) => (IsUid && o.IsUid) || (IsGid && o.IsGid);

    public bool HostsOverlap(IdMapEntry o) => SameKind(o) && HostId < o.HostId + o.Range && o.HostId < HostId + Range;

    public bool Overlaps(IdMapEntry o) => HostsOverlap(o) || (SameKind(o) && NsId < o.NsId + o.Range && o.NsId < NsId + Range);
}

/// <summary>
/// The id map of an unprivileged container, in LXD's model: a list of entries, each for uids, gids or
/// both; <c>volatile.idmap.*</c> hold it as LXD's JSON. Also the chown shift of a root filesystem
/// from one map to another.
/// </summary>
internal sealed class IdMap : IEquatable<IdMap>
{
    private IdMap(IReadOnlyList<IdMapEntry> entries) => Entries = entries;

    public IReadOnlyList<IdMapEntry> Entries { get; }

    /// <summary>Container ids 0…<paramref name="size"/>-1 are host ids <paramref name="hostBase"/>…, for uids and gids.</summary>
    public static IdMap Range(long hostBase, long size) =>
        new(new[] { new IdMapEntry(true, false, hostBase, 0, size), new IdMapEntry(false, true, hostBase, 0, size) });

    public static bool IsPrivileged(IReadOnlyDictionary<string, string> config) =>
        LxdBool.IsTrue(config.GetValueOrDefault("security.privileged"));

    /// <summary>The map the disk is shifted to (<c>volatile.last_state.idmap</c>), or none (ids as in the image).</summary>
    public static IdMap? OnDisk(IReadOnlyDictionary<string, string> config) =>
        config.TryGetValue("volatile.last_state.idmap", out var json) ? FromLxdJson(json) : null;

    /// <summary>
    /// Punches raw host ids into the map as LXD's AddSafe does: an entry whose container ids fall inside
    /// an existing one splits it around them. Refused when the host ids lie in the map's own host range.
    /// </summary>
    public IdMap With(IEnumerable<RawIdmapEntry> raw)
    {
        var entries = Entries.ToList();
        foreach (var r in raw)
        {
            var add = new IdMapEntry(r.IsUid, r.IsGid, r.HostId, r.NsId, r.Range);
            var result = new List<IdMapEntry>();
            var added = false;
            foreach (var e in entries)
            {
                if (!e.Overlaps(add))
                {
                    result.Add(e);
                    continue;
                }
                if (e.HostsOverlap(add))
                {
                    throw new BadRequestException(
                        $"Invalid value for config key \"raw.idmap\": host ids {r.HostId}-{r.HostId + r.Range - 1} are in the container's own id range");
                }
                if (add.NsId < e.NsId || add.NsId + add.Range > e.NsId + e.Range)
                {
                    throw new BadRequestException(
                        $"Invalid value for config key \"raw.idmap\": container ids {r.NsId}-{r.NsId + r.Range - 1} straddle the end of the id range");
                }
                added = true;
                var lower = e with { Range = add.NsId - e.NsId };
                var upper = e with { HostId = e.HostId + lower.Range + add.Range, NsId = add.NsId + add.Range, Range = e.Range - lower.Range - add.Range };
                if (lower.Range > 0)
                {
                    result.Add(lower);
                }
                result.Add(add);
                if (upper.Range > 0)
                {
                    result.Add(upper);
                }
            }
            if (!added)
            {
                result.Add(add);
            }
            entries = result;
        }
        return new IdMap(entries);
    }

    /// <summary>LXD's JSON (<c>volatile.idmap.next</c>, <c>.current</c>, <c>volatile.last_state.idmap</c>).</summary>
    public string ToLxdJson()
    {
        var sb = new StringBuilder("[");
        foreach (var e in Entries)
        {
            sb.Append(sb.Length > 1 ? "," : "")
              .Append(CultureInfo.InvariantCulture,
                $"{{\"Isuid\":{Bool(e.IsUid)},\"Isgid\":{Bool(e.IsGid)},\"Hostid\":{e.HostId},\"Nsid\":{e.NsId},\"Maprange\":{e.Range}}}");
        }
        return sb.Append(']').ToString();

        static string Bool(bool b) => b ? "true" : "false";
    }

    /// <summary>The map in LXD's JSON; null for "[]" (no map: privileged, or an unshifted disk) or anything unreadable.</summary>
    public static IdMap? FromLxdJson(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            var entries = doc.RootElement.EnumerateArray().Select(e => new IdMapEntry(
                e.GetProperty("Isuid").GetBoolean(), e.GetProperty("Isgid").GetBoolean(),
                e.GetProperty("Hostid").GetInt64(), e.GetProperty("Nsid").GetInt64(), e.GetProperty("Maprange").GetInt64())).ToList();
            return entries.Count > 0 ? new IdMap(entries) : null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The host id of container id <paramref name="id"/>, or null when the map leaves it unmapped.</summary>
    public uint? ToHost(uint id, bool uid) =>
        Find(e => (uid ? e.IsUid : e.IsGid) && id >= e.NsId && id < e.NsId + e.Range) is { } e ? (uint)(id - e.NsId + e.HostId) : null;

    /// <summary>The container id of host id <paramref name="id"/>, or null when no container id maps to it.</summary>
    public uint? ToContainer(uint id, bool uid) =>
        Find(e => (uid ? e.IsUid : e.IsGid) && id >= e.HostId && id < e.HostId + e.Range) is { } e ? (uint)(id - e.HostId + e.NsId) : null;

    private IdMapEntry? Find(Func<IdMapEntry, bool> match)
    {
        foreach (var e in Entries)
        {
            if (match(e))
            {
                return e;
            }
        }
        return null;
    }

    /// <summary>The container's root as the host sees it.</summary>
    public (uint Uid, uint Gid) Root => (ToHost(0, true) ?? throw new InvalidOperationException("The id map does not map uid 0"),
        ToHost(0, false) ?? throw new InvalidOperationException("The id map does not map gid 0"));

    /// <summary>The uid (or gid) lines of the map for the kernel: each entry once, ordered by container id.</summary>
    public IReadOnlyList<(long NsId, long HostId, long Range)> Lines(bool uid) =>
        Entries.Where(e => uid ? e.IsUid : e.IsGid).Select(e => (e.NsId, e.HostId, e.Range)).Distinct().OrderBy(l => l.NsId).ToList();

    /// <summary>The host ids the map uses for uids and gids, as single-kind entries (for comparisons and overlap checks).</summary>
    private IEnumerable<IdMapEntry> Expanded() => Entries.SelectMany(e => new[]
    {
        e with { IsGid = false }, e with { IsUid = false },
    }).Where(e => e.IsUid || e.IsGid).Distinct().OrderBy(e => e.IsUid ? 0 : 1).ThenBy(e => e.NsId);

    /// <summary>Same mappings (LXD's Equals: "both" entries count as a uid and a gid entry).</summary>
    public bool Equals(IdMap? other) => other is not null && Expanded().SequenceEqual(other.Expanded());

    public override bool Equals(object? obj) => Equals(obj as IdMap);

    public override int GetHashCode() => Expanded().Aggregate(0, (h, e) => HashCode.Combine(h, e));

    public static bool operator ==(IdMap? a, IdMap? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(IdMap? a, IdMap? b) => !(a == b);

    /// <summary>
    /// Re-owns every inode under <paramref name="root"/> from map <paramref name="from"/> (null = unshifted)
    /// to map <paramref name="to"/> (null = unshifted); an id one map leaves unmapped stays as it is. lchown
    /// never follows links; chown clears setuid/setgid bits, so they are put back; an inode with several
    /// links is shifted once.
    /// </summary>
    public static void Shift(string root, IdMap? from, IdMap? to)
    {
        if (from == to)
        {
            return;
        }
        var linked = new HashSet<(ulong, ulong)>();
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var path = stack.Pop();
            var st = Syscalls.LStat(path);
            if (st.Kind == NodeKind.Directory)
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(path))
                {
                    stack.Push(entry);
                }
            }
            else if (st.Links > 1 && !linked.Add((st.Device, st.Inode)))
            {
                continue;
            }
            var uid = from?.ToContainer(st.Uid, true) ?? st.Uid;
            var gid = from?.ToContainer(st.Gid, false) ?? st.Gid;
            var newUid = to?.ToHost(uid, true) ?? uid;
            var newGid = to?.ToHost(gid, false) ?? gid;
            if (newUid != st.Uid || newGid != st.Gid)
            {
                Syscalls.Lchown(path, newUid, newGid);
                if (st.Kind != NodeKind.Symlink && (st.Mode & 0xC00) != 0)
                {
                    Syscalls.Chmod(path, st.Permissions); // the chown cleared setuid/setgid
                }
            }
        }
    }
}
