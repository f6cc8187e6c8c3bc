using System.Globalization;

namespace Hyperlxd.Core.Config;

/// <summary>One line of <c>raw.idmap</c>: host ids punched into a container's map (LXD's IdmapEntry).</summary>
public readonly record struct RawIdmapEntry(bool IsUid, bool IsGid, long HostId, long NsId, long Range);

/// <summary>
/// LXD's <c>raw.idmap</c> syntax: one mapping per line, <c>uid|gid|both HOSTID[-LAST] NSID[-LAST]</c>,
/// both sides the same length (e.g. <c>both 1000 1000</c>, <c>uid 50-59 500-509</c>).
/// </summary>
public static class RawIdmap
{
    /// <summary>The largest id the kernel maps (4294967295 is the invalid id).</summary>
    public const long MaxId = 4294967294;

    /// <summary>For the key table: the problem with the value, or null.</summary>
    public static string? Check(string value)
    {
        try
        {
            Parse(value);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    /// <exception cref="FormatException">The value is not in LXD's syntax (the message says which line).</exception>
    public static List<RawIdmapEntry> Parse(string value)
    {
        var entries = new List<RawIdmapEntry>();
        foreach (var line in value.Split('\n'))
        {
            if (line.Length == 0)
            {
                continue;
            }
            var f = line.Split(' ');
            if (f.Length != 3)
            {
                throw new FormatException($"has an invalid ID map line \"{line}\" (expected \"uid|gid|both HOSTID[-LAST] NSID[-LAST]\")");
            }
            var (isUid, isGid) = f[0] switch
            {
                "both" => (true, true),
                "uid" => (true, false),
                "gid" => (false, true),
                _ => throw new FormatException($"has an invalid ID map type in \"{line}\" (expected uid, gid or both)"),
            };
            var (host, hostCount) = Range(f[1], line);
            var (ns, nsCount) = Range(f[2], line);
            if (hostCount != nsCount)
            {
                throw new FormatException($"has ID map ranges of different sizes in \"{line}\"");
            }
            var entry = new RawIdmapEntry(isUid, isGid, host, ns, nsCount);
            if (entries.Any(e => Overlaps(e, entry)))
            {
                throw new FormatException($"maps an ID twice in \"{line}\"");
            }
            entries.Add(entry);
        }
        return entries;
    }

    /// <summary>Two lines of the same kind that share a host id or a container id.</summary>
    private static bool Overlaps(RawIdmapEntry a, RawIdmapEntry b) =>
        ((a.IsUid && b.IsUid) || (a.IsGid && b.IsGid))
        && ((a.HostId < b.HostId + b.Range && b.HostId < a.HostId + a.Range) || (a.NsId < b.NsId + b.Range && b.NsId < a.NsId + a.Range));

    private static (long First, long Count) Range(string text, string line)
    {
        var parts = text.Split('-');
        if (parts.Length > 2 || parts.Any(p => !long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id > MaxId))
        {
            throw new FormatException($"has an invalid ID range \"{text}\" in \"{line}\" (ids are 0 to {MaxId})");
        }
        var first = long.Parse(parts[0], CultureInfo.InvariantCulture);
        var last = parts.Length == 2 ? long.Parse(parts[1], CultureInfo.InvariantCulture) : first;
        if (last < first)
        {
            throw new FormatException($"has a descending ID range \"{text}\" in \"{line}\"");
        }
        return (first, last - first + 1);
    }
}
