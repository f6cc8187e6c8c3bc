using System.Globalization;
using System.Runtime.InteropServices;
using Hyperlxd.Api;

namespace Hyperlxd.Daemon.Resources;

/// <summary>
/// <c>GET /1.0/resources</c>: the host as <c>/proc</c> and sysfs describe it, read the way LXD 5.0.2's
/// <c>lxd/resources</c> reads it. GPUs, USB and DMI (<c>system</c>) are not read: they stay empty and
/// their extensions are not advertised. <paramref name="root"/> lets tests point at a fake tree.
/// </summary>
public sealed partial class HostResources(string root = "/")
{
    private string P(string path) => Path.Combine(root, path.TrimStart('/'));

    public Api.Resources Read()
    {
        var pci = Pci();
        var network = Network();
        var storage = Storage();
        return new Api.Resources
        {
            Cpu = Cpu(),
            Memory = Memory(),
            Network = new() { Cards = network, Total = (ulong)network.Count },
            Storage = new() { Disks = storage, Total = (ulong)storage.Count },
            Pci = new() { Devices = pci, Total = (ulong)pci.Count },
        };
    }

    internal static string Architecture => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "x86_64",
        System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
        var a => a.ToString().ToLowerInvariant(),
    };

    // ---- small sysfs readers: a missing or unreadable file is "unknown", never an error ----

    private static string? ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static ulong ReadUlong(string path) =>
        ReadText(path) is { } s && ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;

    private static long? ReadLong(string path) =>
        ReadText(path) is { } s && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>A sysfs link's last element (driver, subsystem, iommu group), or null.</summary>
    private static string? LinkName(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is { } target ? Path.GetFileName(target.TrimEnd('/')) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>"0x1af4" → "1af4", as LXD shows PCI ids.</summary>
    private static string HexId(string? raw) => raw is null ? "" : raw.StartsWith("0x", StringComparison.Ordinal) ? raw[2..] : raw;

    /// <summary>A NUMA node from a device's numa_node file (-1, missing: 0, as LXD).</summary>
    private static ulong NumaNode(string deviceDir) => ReadLong(Path.Combine(deviceDir, "numa_node")) is { } n and > 0 ? (ulong)n : 0;

    /// <summary>Parses a kernel CPU list such as "0-3,8,10-11".</summary>
    public static IEnumerable<int> ParseList(string? list)
    {
        foreach (var part in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-');
            if (dash < 0)
            {
                if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var one))
                {
                    yield return one;
                }
                continue;
            }
            if (int.TryParse(part[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var from)
                && int.TryParse(part[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var to))
            {
                for (var i = from; i <= to; i++)
                {
                    yield return i;
                }
            }
        }
    }

    /// <summary>The PCI address a sysfs device sits on (itself or the nearest PCI parent: virtio NICs and disks).</summary>
    private static string? PciAddressOf(string deviceDir)
    {
        try
        {
            var dir = RealPath(deviceDir);
            while (dir is { Length: > 1 })
            {
                var name = Path.GetFileName(dir);
                if (PciAddressPattern().IsMatch(name))
                {
                    return name;
                }
                dir = Path.GetDirectoryName(dir);
            }
        }
        catch (IOException)
        {
        }
        return null;
    }

    /// <summary>realpath(3): sysfs links are relative to the link's real directory, so each component is resolved in turn.</summary>
    public static string RealPath(string path)
    {
        var resolved = "/";
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        for (var hops = 0; pending.Count > 0 && hops < 256; hops++)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                resolved = Path.GetDirectoryName(resolved) ?? "/";
                continue;
            }
            var next = Path.Combine(resolved, part);
            var target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                resolved = next;
                continue;
            }
            foreach (var t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(t);
            }
            if (target.StartsWith('/'))
            {
                resolved = "/";
            }
        }
        return resolved;
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")]
    private static partial System.Text.RegularExpressions.Regex PciAddressPattern();
}
