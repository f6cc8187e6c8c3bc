namespace Hyperlxd.Core.Snapshots;

/// <summary>
/// <c>snapshots.schedule</c> as LXD 5.0.2 reads it: a cron expression, an alias (<c>@hourly</c>, <c>@daily</c>,
/// <c>@midnight</c>, <c>@weekly</c>, <c>@monthly</c>, <c>@annually</c>, <c>@yearly</c>; instances also
/// <c>@startup</c> and <c>@never</c>), or several of them joined by ", " (a bare comma is cron's own list).
/// </summary>
public static class SnapshotSchedule
{
    /// <summary>The aliases an instance's schedule accepts (shared/instance.go).</summary>
    public static readonly string[] InstanceAliases = ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@annually", "@yearly", "@startup", "@never"];

    /// <summary>The aliases a custom volume's schedule accepts (storage/utils.go): no @startup, no @never.</summary>
    public static readonly string[] VolumeAliases = ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@annually", "@yearly"];

    /// <summary>
    /// The alias's cron form; LXD spreads the minute (and the hour) by the subject so that not every
    /// instance snapshots at :00. (LXD derives them from Go's seeded PRNG; here from the id, equally stable.)
    /// </summary>
    private static readonly Dictionary<string, Func<int, int, string>> Aliases = new()
    {
        ["@hourly"] = (m, _) => $"{m} * * * *",
        ["@daily"] = (m, h) => $"{m} {h} * * *",
        ["@midnight"] = (m, _) => $"{m} 0 * * *",
        ["@weekly"] = (m, h) => $"{m} {h} * * 0",
        ["@monthly"] = (m, h) => $"{m} {h} 1 * *",
        ["@annually"] = (m, h) => $"{m} {h} 1 1 *",
        ["@yearly"] = (m, h) => $"{m} {h} 1 1 *",
    };

    /// <summary>The problem with a schedule (null when it is valid): LXD's validate.IsCron with <paramref name="aliases"/>.</summary>
    public static string? Problem(string value, IReadOnlyCollection<string> aliases)
    {
        foreach (var trigger in value.ToLowerInvariant().Split(", "))
        {
            if (aliases.Contains(trigger))
            {
                continue;
            }
            if (trigger.Split(' ').Length != 5)
            {
                return "Schedule must be of the form: <minute> <hour> <day-of-month> <month> <day-of-week>";
            }
            try
            {
                CronSchedule.Parse(trigger);
            }
            catch (FormatException e)
            {
                return "Error parsing schedule: " + e.Message;
            }
        }
        return null;
    }

    /// <summary>Whether the schedule lists <c>@startup</c> (a snapshot each time the instance starts).</summary>
    public static bool HasStartup(string? schedule) =>
        !string.IsNullOrEmpty(schedule) && schedule.ToLowerInvariant().Split(", ").Contains("@startup");

    /// <summary>
    /// Whether the minute tick at <paramref name="now"/> takes the snapshot. As LXD's cronSpecIsNow: the
    /// schedule's next firing after the start of this minute must be the start of the next minute — so a
    /// snapshot for minute M is taken by the tick that runs during minute M-1.
    /// </summary>
    public static bool IsDue(string? schedule, long subjectId, DateTimeOffset now)
    {
        if (string.IsNullOrEmpty(schedule))
        {
            return false;
        }
        var minute = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, now.Offset).AddMinutes(1);
        // LXD splits on ", " only when the value contains one; a spec without it is one trigger.
        foreach (var trigger in schedule.Split(", ", StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var cron = CronOf(trigger, subjectId);
            if (cron is null)
            {
                continue;
            }
            try
            {
                if (CronSchedule.Parse(cron).Matches(minute))
                {
                    return true;
                }
            }
            catch (FormatException)
            {
                // an unparsable trigger (not validated in an older row) never fires, as in LXD
            }
        }
        return false;
    }

    /// <summary>The cron form of one trigger, null for <c>@never</c>/<c>@startup</c> (never due on the clock).</summary>
    public static string? CronOf(string trigger, long subjectId)
    {
        var t = trigger.ToLowerInvariant();
        if (t is "@never" or "@startup")
        {
            return null;
        }
        if (!Aliases.TryGetValue(t, out var alias))
        {
            return trigger;
        }
        var (minute, hour) = Spread(subjectId);
        return alias(minute, hour);
    }

    /// <summary>A stable minute (0-59) and hour (0-23) for a subject.</summary>
    public static (int Minute, int Hour) Spread(long subjectId)
    {
        var h = (ulong)subjectId * 0x9E3779B97F4A7C15UL;
        h ^= h >> 29;
        return ((int)(h % 60), (int)(h / 60 % 24));
    }

    /// <summary>A stable id for a subject known by name (instances have no numeric id here): FNV-1a of the name.</summary>
    public static long IdOf(string name)
    {
        var h = 14695981039346656037UL;
        foreach (var c in name)
        {
            h = (h ^ c) * 1099511628211UL;
        }
        return (long)(h >> 1);
    }
}
