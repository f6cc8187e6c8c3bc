using System.Collections.Concurrent;
using System.Globalization;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// Id maps, as LXD's: root's subordinate range (<see cref="ContainerDriverOptions.IdmapBase"/>, <see
/// cref="ContainerDriverOptions.IdmapRangeSize"/> ids) starts with the map all non-isolated containers
/// share; each <c>security.idmap.isolated</c> container gets a range of its own above it. <c>raw.idmap</c>
/// punches host ids into either. The root's disk: idmapped mounts where the filesystem allows them (the
/// disk keeps the image's ids, as LXD does), else a chown shift into the map.
/// </summary>
public sealed partial class ContainerDriver
{
    private const string NextKey = "volatile.idmap.next";
    private const string BaseKey = "volatile.idmap.base";

    /// <summary>Probe results per filesystem (st_dev of the root): one helper run each.</summary>
    private readonly ConcurrentDictionary<ulong, bool> _idmapProbes = new();

    private IdMap SharedMap => IdMap.Range(_options.IdmapBase, _options.IdmapSize);

    /// <summary>LXD skips the shared map's ids when it allocates isolated ranges.</summary>
    private long IsolatedStart => _options.IdmapBase + _options.IdmapSize;

    private long RangeEnd => _options.IdmapBase + _options.IdmapRangeSize;

    /// <summary>
    /// <c>volatile.idmap.base</c> and <c>volatile.idmap.next</c> for <paramref name="config"/>. An isolated
    /// container keeps the range it was given while its keys still describe it; otherwise it gets the lowest
    /// free range among <paramref name="others"/> (every other container's expanded config). The caller
    /// serialises calls and records the result before the next one, so no two allocations overlap.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> PlanVolatileAsync(IReadOnlyDictionary<string, string> config,
        Func<CancellationToken, Task<IReadOnlyList<IReadOnlyDictionary<string, string>>>> others, CancellationToken ct)
    {
        var (map, hostBase) = await NextMapAsync(config, others, ct);
        return new Dictionary<string, string>
        {
            [BaseKey] = hostBase.ToString(CultureInfo.InvariantCulture),
            [NextKey] = map?.ToLxdJson() ?? "[]",
        };
    }

    /// <summary>The map the next start uses: the recorded <c>volatile.idmap.next</c>, else one planned from the config alone.</summary>
    private async Task<IdMap?> NextMapAsync(IReadOnlyDictionary<string, string> config, CancellationToken ct) =>
        config.TryGetValue(NextKey, out var json) ? IdMap.FromLxdJson(json) : (await NextMapAsync(config, null, ct)).Map;

    private async Task<(IdMap? Map, long Base)> NextMapAsync(IReadOnlyDictionary<string, string> config,
        Func<CancellationToken, Task<IReadOnlyList<IReadOnlyDictionary<string, string>>>>? others, CancellationToken ct)
    {
        if (IdMap.IsPrivileged(config))
        {
            return (null, 0); // as LXD: a privileged container has no map, whatever security.idmap.* say
        }
        List<RawIdmapEntry> raw;
        try
        {
            raw = RawIdmap.Parse(config.GetValueOrDefault("raw.idmap", ""));
        }
        catch (FormatException e)
        {
            throw new BadRequestException($"Invalid value for config key \"raw.idmap\": {e.Message}");
        }
        if (!LxdBool.Get(config, "security.idmap.isolated"))
        {
            return (Usable(SharedMap.With(raw)), _options.IdmapBase);
        }
        var size = IsolatedSize(config);
        if (size > RangeEnd - IsolatedStart)
        {
            throw new BadRequestException(
                $"Invalid value for config key \"security.idmap.size\": {size} is more than the {RangeEnd - IsolatedStart} ids this host has for isolated containers");
        }
        if (config.GetValueOrDefault("security.idmap.base") is { Length: > 0 } text)
        {
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var chosen)
                || chosen < _options.IdmapBase || chosen + size > RangeEnd)
            {
                throw new BadRequestException(
                    $"Invalid value for config key \"security.idmap.base\": \"{text}\" must leave {size} ids inside the host's range {_options.IdmapBase}-{RangeEnd - 1}");
            }
            return (Usable(IdMap.Range(chosen, size).With(raw)), chosen);
        }
        var taken = others is null ? [] : (await others(ct))
            .Where(o => !IdMap.IsPrivileged(o) && LxdBool.Get(o, "security.idmap.isolated"))
            .Select(o => (Base: long.TryParse(o.GetValueOrDefault(BaseKey), NumberStyles.None, CultureInfo.InvariantCulture, out var b) ? b : 0,
                Size: IsolatedSize(o, strict: false)))
            .Where(t => t.Base > 0)
            .OrderBy(t => t.Base)
            .ToList();
        // The range it has stays while it fits and is its own ("Don't change our map Just Because", as LXD says).
        if (long.TryParse(config.GetValueOrDefault(BaseKey), NumberStyles.None, CultureInfo.InvariantCulture, out var kept)
            && kept >= IsolatedStart && kept + size <= RangeEnd && !taken.Any(t => kept < t.Base + t.Size && t.Base < kept + size)
            && IdMap.FromLxdJson(config.GetValueOrDefault(NextKey, "")) is { } recorded && recorded == IdMap.Range(kept, size).With(raw))
        {
            return (recorded, kept);
        }
        var offset = IsolatedStart;
        foreach (var t in taken)
        {
            if (offset + size <= t.Base)
            {
                break;
            }
            offset = Math.Max(offset, t.Base + t.Size);
        }
        if (offset + size > RangeEnd)
        {
            throw new BadRequestException("Not enough uid/gid available for the container (security.idmap.isolated)");
        }
        return (Usable(IdMap.Range(offset, size).With(raw)), offset);
    }

    /// <summary><c>security.idmap.size</c> of an isolated container (LXD's default: 65536).</summary>
    private static long IsolatedSize(IReadOnlyDictionary<string, string> config, bool strict = true)
    {
        var text = config.GetValueOrDefault("security.idmap.size", "");
        if (text is "" or "auto")
        {
            return 65536;
        }
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size >= 65536 && size <= RawIdmap.MaxId)
        {
            return size;
        }
        return strict ? throw new BadRequestException($"Invalid value for config key \"security.idmap.size\": \"{text}\" must be 65536 or more") : 65536;
    }

    /// <summary>The monitor writes at most 8 uid and 8 gid lines (native-shims README).</summary>
    private static IdMap Usable(IdMap map) =>
        map.Lines(true).Count > 8 || map.Lines(false).Count > 8
            ? throw new BadRequestException("Invalid value for config key \"raw.idmap\": the resulting map has more than 8 uid or gid ranges")
            : map;

    /// <summary>
    /// The map the root's disk should hold for the runtime map <paramref name="map"/>: none for
    /// privileged containers; the map itself when the disk is already shifted to it (existing
    /// containers keep working as they are) or idmapped mounts are unavailable; else none (unshifted:
    /// a disk shifted to another map goes back to the image's ids and is mounted idmapped, as LXD does).
    /// </summary>
    private async Task<IdMap?> DiskMapAsync(InstanceSpec spec, IdMap? map, CancellationToken ct)
    {
        if (map is null || IdMap.OnDisk(spec.Config) == map)
        {
            return map;
        }
        return await CanIdmapAsync(SpecWriter.RootFs(spec), ct) ? null : map;
    }

    /// <summary>Whether the filesystem of <paramref name="rootfs"/> takes an idmapped mount (hyperlxd-nsexec idmap-probe).</summary>
    internal async Task<bool> CanIdmapAsync(string rootfs, CancellationToken ct)
    {
        if (!_options.IdmappedMounts || !Syscalls.TryLStat(rootfs, out var st))
        {
            return false;
        }
        if (_idmapProbes.TryGetValue(st.Device, out var ok))
        {
            return ok;
        }
        var (code, _, _) = await RunAsync(_nsexec, new[] { "idmap-probe", rootfs }, ct);
        return _idmapProbes.GetOrAdd(st.Device, code == 0);
    }
}
