using System.Globalization;

namespace Hyperlxd.Core.Snapshots;

/// <summary>
/// The next snapshot name from a rendered <c>snapshots.pattern</c> (LXD's NextSnapshotName): a <c>%d</c> is
/// replaced by one more than the highest number existing names carry in that place (0 when none); a pattern
/// without <c>%d</c> is the name itself, or <c>NAME-%d</c> numbered the same way when NAME is taken.
/// </summary>
public static class SnapshotNames
{
    public const string DefaultPattern = "snap%d";

    public static string Next(string renderedPattern, IReadOnlyCollection<string> existing)
    {
        var count = CountOf(renderedPattern);
        if (count > 1)
        {
            throw new BadRequestException("Snapshot pattern may contain '%d' only once");
        }
        if (count == 1)
        {
            return Number(renderedPattern, existing);
        }
        return existing.Contains(renderedPattern) ? Number(renderedPattern + "-%d", existing) : renderedPattern;
    }

    private static int CountOf(string s)
    {
        var n = 0;
        for (var i = s.IndexOf("%d", StringComparison.Ordinal); i >= 0; i = s.IndexOf("%d", i + 2, StringComparison.Ordinal))
        {
            n++;
        }
        return n;
    }

    private static string Number(string pattern, IReadOnlyCollection<string> existing)
    {
        var at = pattern.IndexOf("%d", StringComparison.Ordinal);
        var (prefix, suffix) = (pattern[..at], pattern[(at + 2)..]);
        var max = 0;
        foreach (var name in existing)
        {
            if (Scan(name, prefix, suffix) is { } n && n >= max)
            {
                max = n + 1;
            }
        }
        return prefix + max.ToString(CultureInfo.InvariantCulture) + suffix;
    }

    /// <summary>Go's Sscanf("PREFIX%dSUFFIX"): the prefix literally, an optionally signed integer, then the suffix as far as the input goes.</summary>
    private static int? Scan(string name, string prefix, string suffix)
    {
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }
        var i = prefix.Length;
        var start = i;
        if (i < name.Length && name[i] is '+' or '-')
        {
            i++;
        }
        var digits = i;
        while (i < name.Length && char.IsAsciiDigit(name[i]))
        {
            i++;
        }
        if (i == digits || !int.TryParse(name.AsSpan(start, i - start), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }
        // The suffix must follow in full (input ending early is Sscanf's error); anything after it is ignored.
        return name.AsSpan(i).StartsWith(suffix, StringComparison.Ordinal) ? n : null;
    }
}
