using System.Globalization;

namespace Hyperlxd.Core.Snapshots;

/// <summary>
/// One standard 5-field cron expression (minute hour day-of-month month day-of-week), parsed and matched
/// as robfig/cron's ParseStandard does for LXD: lists, ranges, <c>*</c>/<c>?</c>, <c>/step</c> (<c>N/step</c>
/// meaning N-max/step), month and weekday names, and day matching where both day fields restricted means
/// either one (cron's OR), otherwise both.
/// </summary>
public sealed class CronSchedule
{
    private const ulong StarBit = 1UL << 63;

    private static readonly Dictionary<string, int> Months = new(StringComparer.OrdinalIgnoreCase)
    {
        ["jan"] = 1, ["feb"] = 2, ["mar"] = 3, ["apr"] = 4, ["may"] = 5, ["jun"] = 6,
        ["jul"] = 7, ["aug"] = 8, ["sep"] = 9, ["oct"] = 10, ["nov"] = 11, ["dec"] = 12,
    };

    private static readonly Dictionary<string, int> Days = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sun"] = 0, ["mon"] = 1, ["tue"] = 2, ["wed"] = 3, ["thu"] = 4, ["fri"] = 5, ["sat"] = 6,
    };

    private readonly ulong _minute, _hour, _dom, _month, _dow;

    private CronSchedule(ulong minute, ulong hour, ulong dom, ulong month, ulong dow) =>
        (_minute, _hour, _dom, _month, _dow) = (minute, hour, dom, month, dow);

    /// <summary>Parses an expression; a <see cref="FormatException"/> says what is wrong with it.</summary>
    public static CronSchedule Parse(string spec)
    {
        var f = spec.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (f.Length != 5)
        {
            throw new FormatException($"expected exactly 5 fields, found {f.Length}: \"{spec}\"");
        }
        return new CronSchedule(
            Field(f[0], 0, 59, null), Field(f[1], 0, 23, null), Field(f[2], 1, 31, null),
            Field(f[3], 1, 12, Months), Field(f[4], 0, 6, Days));
    }

    /// <summary>Whether the schedule fires at the minute of <paramref name="t"/> (seconds ignored), in t's own offset.</summary>
    public bool Matches(DateTimeOffset t) =>
        Has(_minute, t.Minute) && Has(_hour, t.Hour) && Has(_month, t.Month) && DayMatches(t);

    private bool DayMatches(DateTimeOffset t)
    {
        var dom = Has(_dom, t.Day);
        var dow = Has(_dow, (int)t.DayOfWeek);
        return (_dom & StarBit) != 0 || (_dow & StarBit) != 0 ? dom && dow : dom || dow;
    }

    private static bool Has(ulong bits, int v) => (bits & (1UL << v)) != 0;

    private static ulong Field(string field, int min, int max, Dictionary<string, int>? names)
    {
        ulong bits = 0;
        foreach (var expr in field.Split(','))
        {
            bits |= Range(expr, min, max, names);
        }
        return bits;
    }

    private static ulong Range(string expr, int min, int max, Dictionary<string, int>? names)
    {
        var rangeAndStep = expr.Split('/');
        var lowAndHigh = rangeAndStep[0].Split('-');
        var singleDigit = lowAndHigh.Length == 1;
        int start, end;
        ulong extra = 0;
        if (lowAndHigh[0] is "*" or "?")
        {
            (start, end, extra) = (min, max, StarBit);
        }
        else
        {
            start = Number(lowAndHigh[0], names);
            end = lowAndHigh.Length switch
            {
                1 => start,
                2 => Number(lowAndHigh[1], names),
                _ => throw new FormatException($"too many hyphens: \"{expr}\""),
            };
        }
        int step;
        switch (rangeAndStep.Length)
        {
            case 1:
                step = 1;
                break;
            case 2:
                step = Number(rangeAndStep[1], null);
                if (singleDigit)
                {
                    end = max; // "N/step" means "N-max/step"
                }
                if (step > 1)
                {
                    extra = 0;
                }
                break;
            default:
                throw new FormatException($"too many slashes: \"{expr}\"");
        }
        if (start < min)
        {
            throw new FormatException($"beginning of range ({start}) below minimum ({min}): \"{expr}\"");
        }
        if (end > max)
        {
            throw new FormatException($"end of range ({end}) above maximum ({max}): \"{expr}\"");
        }
        if (start > end)
        {
            throw new FormatException($"beginning of range ({start}) beyond end of range ({end}): \"{expr}\"");
        }
        if (step == 0)
        {
            throw new FormatException($"step of range should be a positive number: \"{expr}\"");
        }
        ulong bits = 0;
        for (var i = start; i <= end; i += step)
        {
            bits |= 1UL << i;
        }
        return bits | extra;
    }

    private static int Number(string s, Dictionary<string, int>? names)
    {
        if (names is not null && names.TryGetValue(s, out var named))
        {
            return named;
        }
        if (s.Length == 0 || !s.All(char.IsAsciiDigit) || !int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            throw new FormatException($"failed to parse int from {s}");
        }
        return n;
    }
}
