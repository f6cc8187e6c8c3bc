namespace Hyperlxd.Core.Snapshots;

/// <summary>
/// The time snapshot schedules and expiries are reckoned in: the system clock, or — only when the daemon
/// runs with <c>HYPERLXD_TEST_CLOCK=1</c> — a clock the tests set (so a schedule is shown without waiting
/// for it). A test clock stands still between settings and the minute task does not run on its own.
/// </summary>
public sealed class SnapshotClock(bool testing) : TimeProvider
{
    public const string TestClockVariable = "HYPERLXD_TEST_CLOCK";

    private DateTimeOffset? _set;

    public bool Testing { get; } = testing;

    public static SnapshotClock FromEnvironment() => new(Environment.GetEnvironmentVariable(TestClockVariable) == "1");

    public override DateTimeOffset GetUtcNow() => _set ?? base.GetUtcNow();

    /// <summary>The system's time zone (schedules are local time, as LXD's).</summary>
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Local;

    public void Set(DateTimeOffset now)
    {
        if (!Testing)
        {
            throw new ForbiddenException("the test clock is off");
        }
        _set = now.ToUniversalTime();
    }
}
