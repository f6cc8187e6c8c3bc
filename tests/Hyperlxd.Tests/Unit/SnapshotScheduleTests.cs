using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Snapshots;
using Hyperlxd.Instances.Snapshots;
using Hyperlxd.Instances.Templates;

namespace Hyperlxd.Tests.Unit;

/// <summary>snapshots.schedule / snapshots.expiry / snapshots.pattern as LXD 5.0.2 parses and applies them.</summary>
public sealed class SnapshotScheduleTests
{
    private static readonly TimeSpan Utc = TimeSpan.Zero;

    [Theory]
    [InlineData("* * * * *")]
    [InlineData("0 6 * * *")]
    [InlineData("*/15 0-23/2 1,15 jan-jun mon-fri")]
    [InlineData("5 4 * * SUN")]
    [InlineData("@hourly")]
    [InlineData("@daily")]
    [InlineData("@midnight")]
    [InlineData("@weekly")]
    [InlineData("@monthly")]
    [InlineData("@annually")]
    [InlineData("@yearly")]
    [InlineData("@startup")]
    [InlineData("@never")]
    [InlineData("@Hourly")]
    [InlineData("0 6 * * *, @startup, 30 18 * * 1")]
    [InlineData("0,30 * * * *")]
    public void Instance_schedules_that_LXD_accepts(string spec) =>
        Assert.Null(SnapshotSchedule.Problem(spec, SnapshotSchedule.InstanceAliases));

    [Theory]
    [InlineData("* * * *", "Schedule must be of the form")]
    [InlineData("* * * * * *", "Schedule must be of the form")]
    [InlineData("*  * * * *", "Schedule must be of the form")]
    [InlineData("60 * * * *", "above maximum")]
    [InlineData("* 24 * * *", "above maximum")]
    [InlineData("* * 0 * *", "below minimum")]
    [InlineData("* * * 13 *", "above maximum")]
    [InlineData("* * * * 7", "above maximum")]
    [InlineData("5-1 * * * *", "beyond end")]
    [InlineData("*/0 * * * *", "positive")]
    [InlineData("1/2/3 * * * *", "too many slashes")]
    [InlineData("x * * * *", "failed to parse int")]
    [InlineData("@every", "Schedule must be of the form")]
    [InlineData("@hourly,@daily", "Schedule must be of the form")]
    [InlineData("@daily, 99 * * * *", "above maximum")]
    public void Bad_schedules_say_why(string spec, string why) =>
        Assert.Contains(why, SnapshotSchedule.Problem(spec, SnapshotSchedule.InstanceAliases));

    [Fact]
    public void Volumes_accept_neither_startup_nor_never()
    {
        Assert.NotNull(SnapshotSchedule.Problem("@startup", SnapshotSchedule.VolumeAliases));
        Assert.NotNull(SnapshotSchedule.Problem("@never", SnapshotSchedule.VolumeAliases));
        Assert.Null(SnapshotSchedule.Problem("@daily", SnapshotSchedule.VolumeAliases));
    }

    [Fact]
    public void A_cron_expression_matches_its_minutes_only()
    {
        var cron = CronSchedule.Parse("*/15 9-17 * * mon-fri");
        Assert.True(cron.Matches(new DateTimeOffset(2026, 12, 4, 9, 45, 0, Utc)));   // a Friday
        Assert.False(cron.Matches(new DateTimeOffset(2026, 12, 4, 9, 46, 0, Utc)));
        Assert.False(cron.Matches(new DateTimeOffset(2026, 12, 4, 18, 0, 0, Utc)));
        Assert.False(cron.Matches(new DateTimeOffset(2026, 12, 5, 9, 45, 0, Utc)));  // Saturday
    }

    [Fact]
    public void Both_day_fields_restricted_means_either()
    {
        // cron's rule: "1 * sun" fires on the 1st and on Sundays; with one of them '*', both must hold.
        var either = CronSchedule.Parse("0 0 1 * sun");
        Assert.True(either.Matches(new DateTimeOffset(2026, 12, 1, 0, 0, 0, Utc)));  // Tuesday the 1st
        Assert.True(either.Matches(new DateTimeOffset(2026, 12, 6, 0, 0, 0, Utc)));  // Sunday the 6th
        Assert.False(either.Matches(new DateTimeOffset(2026, 12, 7, 0, 0, 0, Utc)));
        var both = CronSchedule.Parse("0 0 * * sun");
        Assert.False(both.Matches(new DateTimeOffset(2026, 12, 1, 0, 0, 0, Utc)));
    }

    [Fact]
    public void The_tick_in_the_minute_before_takes_the_snapshot()
    {
        // LXD's cronSpecIsNow: due when the next firing after this minute's start is the next minute.
        Assert.True(SnapshotSchedule.IsDue("30 4 * * *", 1, new DateTimeOffset(2026, 12, 4, 4, 29, 17, Utc)));
        Assert.False(SnapshotSchedule.IsDue("30 4 * * *", 1, new DateTimeOffset(2026, 12, 4, 4, 30, 0, Utc)));
        Assert.True(SnapshotSchedule.IsDue("0 0 * * *, 30 4 * * *", 1, new DateTimeOffset(2026, 12, 4, 4, 29, 0, Utc)));
        Assert.False(SnapshotSchedule.IsDue("@startup", 1, new DateTimeOffset(2026, 12, 4, 4, 29, 0, Utc)));
        Assert.False(SnapshotSchedule.IsDue("@never", 1, new DateTimeOffset(2026, 12, 4, 4, 29, 0, Utc)));
        Assert.False(SnapshotSchedule.IsDue("", 1, new DateTimeOffset(2026, 12, 4, 4, 29, 0, Utc)));
    }

    [Fact]
    public void Aliases_fire_once_per_period_at_a_stable_spread_minute()
    {
        const long id = 42;
        var (minute, hour) = SnapshotSchedule.Spread(id);
        Assert.Equal((minute, hour), SnapshotSchedule.Spread(id));
        Assert.InRange(minute, 0, 59);
        Assert.InRange(hour, 0, 23);
        var day = new DateTimeOffset(2026, 12, 4, 0, 0, 0, Utc);
        var hourly = Enumerable.Range(0, 24 * 60).Count(m => SnapshotSchedule.IsDue("@hourly", id, day.AddMinutes(m)));
        var daily = Enumerable.Range(0, 24 * 60).Count(m => SnapshotSchedule.IsDue("@daily", id, day.AddMinutes(m)));
        Assert.Equal(24, hourly);
        Assert.Equal(1, daily);
        Assert.Equal($"{minute} {hour} * * 0", SnapshotSchedule.CronOf("@weekly", id));
        Assert.Equal($"{minute} 0 * * *", SnapshotSchedule.CronOf("@midnight", id));
    }

    [Fact]
    public void Startup_is_found_among_the_triggers()
    {
        Assert.True(SnapshotSchedule.HasStartup("@startup"));
        Assert.True(SnapshotSchedule.HasStartup("0 6 * * *, @STARTUP"));
        Assert.False(SnapshotSchedule.HasStartup("@daily"));
        Assert.False(SnapshotSchedule.HasStartup(null));
    }

    [Fact]
    public void Expiry_adds_each_unit_once()
    {
        var t = new DateTimeOffset(2026, 1, 31, 12, 0, 0, Utc);
        Assert.Null(SnapshotExpiry.From(t, ""));
        Assert.Null(SnapshotExpiry.From(t, "  "));
        Assert.Equal(t.AddDays(1).AddHours(3), SnapshotExpiry.From(t, "1d 3H"));
        Assert.Equal(t.AddMinutes(5).AddSeconds(30), SnapshotExpiry.From(t, "5M 30S"));
        Assert.Equal(t.AddDays(14), SnapshotExpiry.From(t, "2w"));
        Assert.Equal(new DateTimeOffset(2026, 2, 28, 12, 0, 0, Utc), SnapshotExpiry.From(t, "1m"));
        Assert.Equal(t.AddYears(2).AddMonths(1).AddDays(3 + 7 * 4).AddHours(2).AddMinutes(1).AddSeconds(9), SnapshotExpiry.From(t, "2y 1m 3d 4w 2H 1M 9S"));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("1x")]
    [InlineData("d")]
    [InlineData("1d 2d")]
    [InlineData("1d  2H")]
    [InlineData("-1d")]
    [InlineData("1.5d")]
    public void Bad_expiries_are_refused(string value) => Assert.Equal("Invalid expiry expression", SnapshotExpiry.Problem(value));

    [Fact]
    public void The_zero_time_is_no_expiry()
    {
        Assert.Null(SnapshotExpiry.Normalize(default(DateTimeOffset)));
        Assert.Null(SnapshotExpiry.Normalize(DateTimeOffset.Parse("0001-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Null(SnapshotExpiry.Normalize(null));
        var t = new DateTimeOffset(2030, 1, 1, 0, 0, 0, Utc);
        Assert.Equal(t, SnapshotExpiry.Normalize(t));
    }

    [Theory]
    [InlineData("snapshots.schedule", "0 6 * * *")]
    [InlineData("snapshots.schedule", "@daily, @startup")]
    [InlineData("snapshots.schedule.stopped", "true")]
    [InlineData("snapshots.expiry", "1w 2d")]
    [InlineData("snapshots.pattern", "{{ creation_date|date:'2006-01-02' }}-%d")]
    public void Instance_config_accepts_snapshot_keys(string key, string value) =>
        InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: true);

    [Theory]
    [InlineData("snapshots.schedule", "every day")]
    [InlineData("snapshots.schedule", "61 * * * *")]
    [InlineData("snapshots.schedule.stopped", "sometimes")]
    [InlineData("snapshots.expiry", "3 days")]
    public void Instance_config_refuses_bad_snapshot_values_naming_the_key(string key, string value)
    {
        var e = Assert.Throws<BadRequestException>(() => InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: false));
        Assert.Contains($"\"{key}\"", e.Message);
    }

    [Fact]
    public void Numbered_names_go_one_past_the_highest()
    {
        Assert.Equal("snap0", SnapshotNames.Next("snap%d", []));
        Assert.Equal("snap1", SnapshotNames.Next("snap%d", ["snap0"]));
        // LXD does not reuse a gap: one past the highest number, whatever was deleted.
        Assert.Equal("snap6", SnapshotNames.Next("snap%d", ["snap5", "other", "snap2"]));
        Assert.Equal("daily-3-x", SnapshotNames.Next("daily-%d-x", ["daily-2-x", "daily-9"]));
        Assert.Throws<BadRequestException>(() => SnapshotNames.Next("a%db%d", []));
    }

    [Fact]
    public void A_fixed_name_that_exists_gets_a_number()
    {
        Assert.Equal("nightly", SnapshotNames.Next("nightly", ["snap0"]));
        Assert.Equal("nightly-0", SnapshotNames.Next("nightly", ["nightly"]));
        Assert.Equal("nightly-2", SnapshotNames.Next("nightly", ["nightly", "nightly-1"]));
    }

    [Fact]
    public void Patterns_render_creation_date_with_Go_layouts()
    {
        var t = new DateTimeOffset(2026, 3, 7, 14, 5, 9, Utc).AddTicks(1_234_567);
        Assert.Equal("snap0", SnapshotPattern.Next(null, t, []));
        Assert.Equal("snap0", SnapshotPattern.Next("", t, []));
        Assert.Equal("2026-03-07_14-05-0", SnapshotPattern.Next("{{ creation_date|date:'2006-01-02_15-04' }}-%d", t, []));
        Assert.Equal("auto-20260307", SnapshotPattern.Next("auto-{{ creation_date|date:\"20060102\" }}", t, ["snap0"]));
        Assert.Equal("auto-20260307-0", SnapshotPattern.Next("auto-{{ creation_date|date:\"20060102\" }}", t, ["auto-20260307"]));
        Assert.Throws<BadRequestException>(() => SnapshotPattern.Next("{{ creation_date", t, []));
    }

    [Theory]
    [InlineData("2006-01-02T15:04:05Z07:00", "2026-03-07T14:05:09Z")]
    [InlineData("Mon Jan _2 3:04PM", "Sat Mar  7 2:05PM")]
    [InlineData("Monday, 02-January-06 15h", "Saturday, 07-March-26 14h")]
    [InlineData("15:04:05.000", "14:05:09.123")]
    [InlineData("05.999999999", "09.1234567")]
    [InlineData("002 __2 -0700 MST", "066  66 +0000 UTC")]
    public void Go_layouts(string layout, string expected) =>
        Assert.Equal(expected, GoTime.Format(new DateTimeOffset(2026, 3, 7, 14, 5, 9, Utc).AddTicks(1_234_567), layout));
}
