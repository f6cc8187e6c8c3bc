using System.Globalization;
using Hyperlxd.Api;

namespace Hyperlxd.Daemon.Resources;

public sealed partial class HostResources
{
    /// <summary>
    /// Sockets, cores and threads from <c>/sys/devices/system/cpu/cpuN/topology</c>; names, vendors and the
    /// frequency without cpufreq from <c>/proc/cpuinfo</c>; caches from the first thread of each socket.
    /// </summary>
    private ResourcesCpu Cpu()
    {
        var cpuDir = P("/sys/devices/system/cpu");
        var info = CpuInfo();
        var isolated = ParseList(ReadText(Path.Combine(cpuDir, "isolated"))).ToHashSet();
        var threads = new List<(int Id, ulong Socket, ulong Core, ulong Die, ulong Thread, ulong Numa, bool Online, ulong FreqMhz, string Dir)>();
        foreach (var dir in Directory.Exists(cpuDir) ? Directory.EnumerateDirectories(cpuDir, "cpu*") : [])
        {
            if (!int.TryParse(Path.GetFileName(dir)[3..], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                continue;
            }
            var topology = Path.Combine(dir, "topology");
            var online = ReadText(Path.Combine(dir, "online")) is not "0"; // cpu0 often has no "online" file
            if (!Directory.Exists(topology))
            {
                // An offline CPU has no topology: LXD still lists it, on socket 0 core 0.
                threads.Add((id, 0, 0, 0, 0, 0, online, 0, dir));
                continue;
            }
            var siblings = ParseList(ReadText(Path.Combine(topology, "thread_siblings_list"))).ToList();
            var thread = siblings.IndexOf(id) is var i and >= 0 ? (ulong)i : 0;
            var numa = Directory.EnumerateDirectories(dir, "node*").Select(n => Path.GetFileName(n)[4..])
                .Select(n => ulong.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0).FirstOrDefault();
            var freq = ReadUlong(Path.Combine(dir, "cpufreq", "scaling_cur_freq")) / 1000;
            if (freq == 0 && info.TryGetValue(id, out var proc) && proc.GetValueOrDefault("cpu MHz") is { } mhz
                && double.TryParse(mhz, NumberStyles.Float, CultureInfo.InvariantCulture, out var f))
            {
                freq = (ulong)f;
            }
            threads.Add((id, ReadUlong(Path.Combine(topology, "physical_package_id")), ReadUlong(Path.Combine(topology, "core_id")),
                ReadUlong(Path.Combine(topology, "die_id")), thread, numa, online, freq, dir));
        }

        var sockets = new List<ResourcesCpuSocket>();
        foreach (var socketThreads in threads.GroupBy(t => t.Socket).OrderBy(g => g.Key))
        {
            var first = socketThreads.OrderBy(t => t.Id).First();
            var proc = info.GetValueOrDefault(first.Id) ?? new Dictionary<string, string>();
            var cores = socketThreads.GroupBy(t => (t.Die, t.Core)).OrderBy(g => g.Key.Die).ThenBy(g => g.Key.Core).Select(core => new ResourcesCpuCore
            {
                Core = core.Key.Core,
                Die = core.Key.Die,
                Frequency = core.Max(t => t.FreqMhz),
                Threads = core.OrderBy(t => t.Thread).Select(t => new ResourcesCpuThread
                {
                    Id = t.Id,
                    NumaNode = t.Numa,
                    Thread = t.Thread,
                    Online = t.Online,
                    Isolated = isolated.Contains(t.Id),
                }).ToList(),
            }).ToList();
            var withFreq = cores.Where(c => c.Frequency > 0).ToList();
            sockets.Add(new ResourcesCpuSocket
            {
                Socket = socketThreads.Key,
                Name = proc.GetValueOrDefault("model name") is { Length: > 0 } name ? name : null,
                Vendor = proc.GetValueOrDefault("vendor_id") is { Length: > 0 } vendor ? vendor : null,
                Cache = Caches(first.Dir),
                Cores = cores,
                Frequency = withFreq.Count > 0 ? (ulong)withFreq.Average(c => (double)c.Frequency) : 0,
                FrequencyMinimum = ReadUlong(Path.Combine(first.Dir, "cpufreq", "cpuinfo_min_freq")) / 1000,
                FrequencyTurbo = ReadUlong(Path.Combine(first.Dir, "cpufreq", "cpuinfo_max_freq")) / 1000,
            });
        }
        return new ResourcesCpu { Architecture = Architecture, Sockets = sockets, Total = (ulong)threads.Count };
    }

    /// <summary><c>cache/indexN/{level,type,size}</c> ("32K" → bytes).</summary>
    private static List<ResourcesCpuCache>? Caches(string cpuDir)
    {
        var dir = Path.Combine(cpuDir, "cache");
        if (!Directory.Exists(dir))
        {
            return null;
        }
        var caches = new List<ResourcesCpuCache>();
        foreach (var index in Directory.EnumerateDirectories(dir, "index*").Order(StringComparer.Ordinal))
        {
            var size = ReadText(Path.Combine(index, "size")) ?? "";
            var multiplier = size.EndsWith('K') ? 1024UL : size.EndsWith('M') ? 1024UL * 1024 : size.EndsWith('G') ? 1024UL * 1024 * 1024 : 1;
            if (!ulong.TryParse(size.TrimEnd('K', 'M', 'G'), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                continue;
            }
            caches.Add(new ResourcesCpuCache
            {
                Level = ReadUlong(Path.Combine(index, "level")),
                Type = ReadText(Path.Combine(index, "type")) ?? "",
                Size = n * multiplier,
            });
        }
        return caches.Count > 0 ? caches : null;
    }

    /// <summary>/proc/cpuinfo, one key/value map per "processor".</summary>
    private Dictionary<int, Dictionary<string, string>> CpuInfo()
    {
        var result = new Dictionary<int, Dictionary<string, string>>();
        Dictionary<string, string>? current = null;
        foreach (var line in ReadText(P("/proc/cpuinfo"))?.Split('\n') ?? [])
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                continue;
            }
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (key == "processor" && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                result[id] = current = new Dictionary<string, string>();
                continue;
            }
            current?.TryAdd(key, value);
        }
        return result;
    }
}
