using System.Globalization;
using Hyperlxd.Api;

namespace Hyperlxd.Daemon.Resources;

public sealed partial class HostResources
{
    /// <summary>
    /// <c>/proc/meminfo</c> as LXD counts it: used = total − free − cached − buffers; huge pages in bytes.
    /// NUMA nodes from <c>/sys/devices/system/node/nodeN/meminfo</c>.
    /// </summary>
    private ResourcesMemory Memory()
    {
        var info = MemInfo(ReadText(P("/proc/meminfo")));
        var pageSize = info.GetValueOrDefault("Hugepagesize");
        var memory = new ResourcesMemory
        {
            Total = info.GetValueOrDefault("MemTotal"),
            HugepagesSize = pageSize,
            HugepagesTotal = info.GetValueOrDefault("HugePages_Total") * pageSize,
            HugepagesUsed = (info.GetValueOrDefault("HugePages_Total") - info.GetValueOrDefault("HugePages_Free")) * pageSize,
        };
        memory.Used = Sub(memory.Total, info.GetValueOrDefault("MemFree") + info.GetValueOrDefault("Cached") + info.GetValueOrDefault("Buffers"));

        var nodeDir = P("/sys/devices/system/node");
        var nodes = new List<ResourcesMemoryNode>();
        foreach (var dir in Directory.Exists(nodeDir) ? Directory.EnumerateDirectories(nodeDir, "node*") : [])
        {
            if (!ulong.TryParse(Path.GetFileName(dir)[4..], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                continue;
            }
            var node = MemInfo(ReadText(Path.Combine(dir, "meminfo")));
            nodes.Add(new ResourcesMemoryNode
            {
                NumaNode = id,
                Total = node.GetValueOrDefault("MemTotal"),
                Used = node.GetValueOrDefault("MemUsed"),
                HugepagesTotal = node.GetValueOrDefault("HugePages_Total") * pageSize,
                HugepagesUsed = (node.GetValueOrDefault("HugePages_Total") - node.GetValueOrDefault("HugePages_Free")) * pageSize,
            });
        }
        memory.Nodes = nodes.Count > 0 ? nodes.OrderBy(n => n.NumaNode).ToList() : null;
        return memory;
    }

    private static ulong Sub(ulong a, ulong b) => a > b ? a - b : 0;

    /// <summary>
    /// "Key: N kB" lines (also the per-node "Node 0 Key: N kB" form) → bytes; counts without a unit
    /// (HugePages_*) stay counts.
    /// </summary>
    public static Dictionary<string, ulong> MemInfo(string? text)
    {
        var result = new Dictionary<string, ulong>();
        foreach (var line in (text ?? "").Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                continue;
            }
            var key = line[..colon].Trim();
            if (key.StartsWith("Node ", StringComparison.Ordinal))
            {
                key = key.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1];
            }
            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0 || !ulong.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }
            result[key] = fields.Length > 1 && fields[1] == "kB" ? value * 1024 : value;
        }
        return result;
    }
}
