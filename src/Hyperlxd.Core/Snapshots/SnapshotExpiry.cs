using System.Globalization;
using System.Text.RegularExpressions;

namespace Hyperlxd.Core.Snapshots;

/// <summary>
/// <c>snapshots.expiry</c> (shared.GetExpiry): space-separated <c>&lt;integer&gt;&lt;unit&gt;</c> fields, each
/// unit at most once — S seconds, M minutes, H hours, d days, w weeks, m months, y years (e.g. "1d 3H").
/// </summary>
public static partial class SnapshotExpiry
{
    [GeneratedRegex(@"^(\d+)(S|M|H|d|w|m|y)$")]
    private static partial Regex Field();

    /// <summary>The expiry reckoned from <paramref name="from"/>; null when the expression is empty (no expiry).</summary>
    public static DateTimeOffset? From(DateTimeOffset from, string? expression)
    {
        var expr = (expression ?? "").Trim();
        if (expr.Length == 0)
        {
            return null;
        }
        var units = new Dictionary<string, int>();
        foreach (var value in expr.Split(' '))
        {
            var m = Field().Match(value);
            if (!m.Success || units.GetValueOrDefault(m.Groups[2].Value) > 0)
            {
                throw new FormatException("Invalid expiry expression");
            }
            if (!int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                throw new FormatException("Invalid expiry expression");
            }
            units[m.Groups[2].Value] = n;
        }
        try
        {
            // Calendar parts first (Go's AddDate), then the clock parts.
            return from.AddYears(units.GetValueOrDefault("y")).AddMonths(units.GetValueOrDefault("m"))
                .AddDays(units.GetValueOrDefault("d") + 7L * units.GetValueOrDefault("w"))
                .AddHours(units.GetValueOrDefault("H")).AddMinutes(units.GetValueOrDefault("M")).AddSeconds(units.GetValueOrDefault("S"));
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new FormatException("Invalid expiry expression: too far in the future");
        }
    }

    /// <summary>The problem with an expression (null when valid).</summary>
    public static string? Problem(string value)
    {
        try
        {
            From(DateTimeOffset.UnixEpoch, value);
            return null;
        }
        catch (FormatException e)
        {
            return e.Message;
        }
    }

    /// <summary>LXD's "no expiry" is the zero time (0001-01-01T00:00:00Z); a client may send it (<c>--no-expiry</c>).</summary>
    public static DateTimeOffset? Normalize(DateTimeOffset? t) => t is { } v && v.UtcDateTime.Year > 1 ? v : null;
}
