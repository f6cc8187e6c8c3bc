using System.Globalization;
using System.Text;

namespace Hyperlxd.Instances.Templates;

/// <summary>
/// Go's reference-time layouts (time.Format: "2006-01-02 15:04:05"), which pongo2's <c>date</c>/<c>time</c>
/// filters take — what a <c>snapshots.pattern</c> such as <c>{{ creation_date|date:'2006-01-02_15-04' }}</c> uses.
/// </summary>
public static class GoTime
{
    /// <summary>How Go prints a time.Time (its String()): what <c>{{ creation_date }}</c> renders to.</summary>
    public const string DefaultLayout = "2006-01-02 15:04:05.999999999 -0700 MST";

    private static readonly string[] LongDays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    private static readonly string[] LongMonths = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTimeOffset t, string layout)
    {
        var sb = new StringBuilder();
        var i = 0;
        while (i < layout.Length)
        {
            var rest = layout.AsSpan(i);
            var (text, used) = Chunk(t, rest);
            if (used == 0)
            {
                sb.Append(layout[i]);
                i++;
                continue;
            }
            sb.Append(text);
            i += used;
        }
        return sb.ToString();
    }

    private static string D2(int v) => v.ToString("00", CultureInfo.InvariantCulture);

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The element at the start of <paramref name="s"/> (as Go's nextStdChunk), or (_, 0) for a literal character.</summary>
    private static (string Text, int Used) Chunk(DateTimeOffset t, ReadOnlySpan<char> s)
    {
        bool At(ReadOnlySpan<char> x, string p) => x.StartsWith(p, StringComparison.Ordinal);
        var hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
        switch (s[0])
        {
            case 'J' when At(s, "January"): return (LongMonths[t.Month - 1], 7);
            case 'J' when At(s, "Jan"): return (LongMonths[t.Month - 1][..3], 3);
            case 'M' when At(s, "Monday"): return (LongDays[(int)t.DayOfWeek], 6);
            case 'M' when At(s, "Mon"): return (LongDays[(int)t.DayOfWeek][..3], 3);
            case 'M' when At(s, "MST"): return (ZoneName(t.Offset), 3);
            case '0' when At(s, "002"): return (t.DayOfYear.ToString("000", CultureInfo.InvariantCulture), 3);
            case '0' when s.Length > 1 && s[1] is >= '1' and <= '6':
                return (s[1] switch
                {
                    '1' => D2(t.Month),
                    '2' => D2(t.Day),
                    '3' => D2(hour12),
                    '4' => D2(t.Minute),
                    '5' => D2(t.Second),
                    _ => D2(t.Year % 100),
                }, 2);
            case '1' when At(s, "15"): return (D2(t.Hour), 2);
            case '1': return (N(t.Month), 1);
            case '2' when At(s, "2006"): return (t.Year.ToString("0000", CultureInfo.InvariantCulture), 4);
            case '2': return (N(t.Day), 1);
            case '_' when At(s, "__2"): return (t.DayOfYear.ToString(CultureInfo.InvariantCulture).PadLeft(3), 3);
            case '_' when At(s, "_2") && !At(s, "_2006"): return (N(t.Day).PadLeft(2), 2);
            case '3': return (N(hour12), 1);
            case '4': return (N(t.Minute), 1);
            case '5': return (N(t.Second), 1);
            case 'P' when At(s, "PM"): return (t.Hour >= 12 ? "PM" : "AM", 2);
            case 'p' when At(s, "pm"): return (t.Hour >= 12 ? "pm" : "am", 2);
            case '-' or 'Z':
                foreach (var (p, colon, secs, minutes) in new[] { ("070000", false, true, true), ("07:00:00", true, true, true), ("0700", false, false, true), ("07:00", true, false, true), ("07", false, false, false) })
                {
                    if (At(s[1..], p))
                    {
                        return (Offset(t.Offset, s[0] == 'Z', colon, secs, minutes), 1 + p.Length);
                    }
                }
                return ("", 0);
            case '.' or ',' when s.Length > 1 && s[1] is '0' or '9':
                var j = 1;
                while (j < s.Length && s[j] == s[1])
                {
                    j++;
                }
                if (j < s.Length && char.IsAsciiDigit(s[j]))
                {
                    return ("", 0);
                }
                var digits = (t.Ticks % TimeSpan.TicksPerSecond * 100).ToString("000000000", CultureInfo.InvariantCulture)[..Math.Min(j - 1, 9)];
                if (s[1] == '9')
                {
                    digits = digits.TrimEnd('0');
                    return (digits.Length == 0 ? "" : s[0] + digits, j);
                }
                return (s[0] + digits, j);
            default:
                return ("", 0);
        }
    }

    private static string Offset(TimeSpan o, bool z, bool colon, bool secs, bool minutes)
    {
        if (z && o == TimeSpan.Zero)
        {
            return "Z";
        }
        var sign = o < TimeSpan.Zero ? "-" : "+";
        var a = o.Duration();
        var sep = colon ? ":" : "";
        return sign + D2(a.Hours) + (minutes ? sep + D2(a.Minutes) : "") + (secs ? sep + D2(a.Seconds) : "");
    }

    /// <summary>Go prints a zone's abbreviation; without a zone database at hand: UTC, else the offset as Go's fallback (-07, +0530).</summary>
    private static string ZoneName(TimeSpan o) =>
        o == TimeSpan.Zero ? "UTC" : (o < TimeSpan.Zero ? "-" : "+") + D2(o.Duration().Hours) + (o.Minutes != 0 ? D2(Math.Abs(o.Minutes)) : "");
}
