using System.Globalization;
using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>A daemon started with HYPERLXD_TEST_CLOCK=1: its snapshot schedules and expiries follow a clock the tests set.</summary>
public sealed class TestClockDaemon : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        Daemon = await DaemonProcess.StartAsync(daemonEnv: new Dictionary<string, string> { ["HYPERLXD_TEST_CLOCK"] = "1" });
        await Daemon.PrepareContainersAsync(ImageFixture.Busybox);
    }

    public async Task DisposeAsync()
    {
        try
        {
            await Daemon.DeleteAllInstancesAsync();
        }
        finally
        {
            await Daemon.DisposeAsync();
        }
    }
}

/// <summary>
/// snapshots.expiry / snapshots.schedule / snapshots.schedule.stopped / snapshots.pattern on instances and
/// custom volumes, with the stock lxc 5.0.2 client. The schedule is driven by the daemon's test clock
/// (PUT /internal/testing/clock sets it and runs the minute tick at once), never by waiting.
/// </summary>
public sealed class LxcSnapshotScheduleTests(TestClockDaemon fixture) : IClassFixture<TestClockDaemon>
{
    private DaemonProcess D => fixture.Daemon;

    /// <summary>A wall-clock time in the daemon's (= this process's) time zone: schedules are local time, as LXD's.</summary>
    private static DateTimeOffset Local(int y, int mo, int d, int h, int mi, int s) => new(new DateTime(y, mo, d, h, mi, s, DateTimeKind.Local));

    private Task<string> LxcOkAsync(params string[] args) => D.LxcOkAsync(args);

    private async Task<string> LxcFailsAsync(params string[] args)
    {
        var r = await D.LxcAsync(args);
        Assert.True(r.ExitCode != 0, $"lxc {string.Join(' ', args)} should fail: {r}");
        return r.Stderr;
    }

    /// <summary>Sets the test clock; the daemon runs one snapshot tick at that time and lists what it did.</summary>
    private async Task<List<string>> TickAtAsync(DateTimeOffset t)
    {
        var r = await D.Api.PutAsync("/internal/testing/clock", JsonSerializer.Serialize(new Dictionary<string, string> { ["time"] = t.ToString("o", CultureInfo.InvariantCulture) }));
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        return r.Metadata.EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    /// <summary>GET through the stock client (<c>lxc query</c>).</summary>
    private async Task<JsonElement> QueryAsync(string path) => JsonDocument.Parse(await LxcOkAsync("query", path)).RootElement;

    private async Task<List<string>> SnapshotNamesAsync(string instance) =>
        (await QueryAsync($"/1.0/instances/{instance}/snapshots?recursion=1")).EnumerateArray().Select(s => s.GetProperty("name").GetString()!).ToList();

    private static DateTimeOffset Time(JsonElement e, string field) =>
        DateTimeOffset.Parse(e.GetProperty(field).GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    [Fact]
    public async Task Expiry_is_set_as_LXD_sets_it_and_an_expired_snapshot_is_pruned()
    {
        var t0 = Local(2031, 5, 6, 10, 0, 30);
        await TickAtAsync(t0);
        await using var c = await LaunchAsync("exp1");
        await LxcOkAsync("config", "set", c, "snapshots.expiry", "1d 2H");

        await LxcOkAsync("snapshot", c);                    // snap0: snapshots.expiry from now
        await LxcOkAsync("snapshot", c, "kept", "--no-expiry");
        await LxcOkAsync("snapshot", c, "edited");
        var snap0 = await QueryAsync($"/1.0/instances/{c}/snapshots/snap0");
        Assert.Equal(t0.AddDays(1).AddHours(2), Time(snap0, "expires_at"));
        var kept = await QueryAsync($"/1.0/instances/{c}/snapshots/kept");
        Assert.Equal("0001-01-01T00:00:00Z", kept.GetProperty("expires_at").GetString());

        // lxc config edit INSTANCE/SNAPSHOT: expires_at is the one writable field; the zero time removes it.
        var r = await D.RunInNetnsAsync("lxc", ["config", "edit", $"{c}/edited"], D.Env, "expires_at: 2031-05-06T12:00:00Z\n");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(new DateTimeOffset(2031, 5, 6, 12, 0, 0, TimeSpan.Zero), Time(await QueryAsync($"/1.0/instances/{c}/snapshots/edited"), "expires_at"));
        Assert.Equal(HttpStatusCode.BadRequest, (await D.Api.PatchAsync($"/1.0/instances/{c}/snapshots/edited", "{\"expires_at\": \"tomorrow\"}")).Status);

        // Past "edited"'s expiry only it goes; past snap0's, snap0 too; "kept" never does.
        var pruned = await TickAtAsync(new DateTimeOffset(2031, 5, 6, 12, 0, 1, TimeSpan.Zero));
        Assert.Contains($"pruned {c}/edited", pruned);
        Assert.Equal(["snap0", "kept"], await SnapshotNamesAsync(c));
        pruned = await TickAtAsync(t0.AddDays(1).AddHours(2).AddSeconds(1));
        Assert.Equal([$"pruned {c}/snap0"], pruned);
        Assert.Equal(["kept"], await SnapshotNamesAsync(c));
        Assert.DoesNotContain("snap0", await LxcOkAsync("info", c));
        var gone = await D.LxcAsync("query", $"/1.0/instances/{c}/snapshots/snap0");
        Assert.NotEqual(0, gone.ExitCode);
        // A default name is one past the highest number among the snapshots, as LXD: snap6 here, not the free snap0.
        await LxcOkAsync("snapshot", c, "snap5", "--no-expiry");
        await LxcOkAsync("snapshot", c, "--no-expiry");
        Assert.Equal(["kept", "snap5", "snap6"], await SnapshotNamesAsync(c));
    }

    [Fact]
    public async Task A_schedule_takes_a_snapshot_named_by_the_pattern_and_stopped_instances_only_when_asked()
    {
        await using var c = await LaunchAsync("sched1");
        await LxcOkAsync("config", "set", c, "snapshots.schedule", "30 4 * * *");
        await LxcOkAsync("config", "set", c, "snapshots.pattern", "auto-{{ creation_date|date:'2006-01-02' }}-%d");
        await LxcOkAsync("config", "set", c, "snapshots.expiry", "2d");

        Assert.DoesNotContain(await TickAtAsync(Local(2032, 1, 10, 4, 28, 10)), x => x.Contains(c, StringComparison.Ordinal));
        Assert.Empty(await SnapshotNamesAsync(c));
        // LXD's tick takes the 04:30 snapshot in the minute before it (cronSpecIsNow looks one minute ahead).
        var at = Local(2032, 1, 10, 4, 29, 10);
        Assert.Contains($"created {c}/auto-2032-01-10-0", await TickAtAsync(at));
        var snap = await QueryAsync($"/1.0/instances/{c}/snapshots/auto-2032-01-10-0");
        Assert.Equal(at.AddDays(2), Time(snap, "expires_at"));
        Assert.Contains("auto-2032-01-10-0", await LxcOkAsync("info", c));

        // Stopped: skipped, until snapshots.schedule.stopped=true.
        await LxcOkAsync("stop", c, "--force");
        Assert.DoesNotContain(await TickAtAsync(Local(2032, 1, 11, 4, 29, 10)), x => x.Contains(c, StringComparison.Ordinal));
        await LxcOkAsync("config", "set", c, "snapshots.schedule.stopped", "true");
        // Two days after the first one was taken it has expired: pruned by the same tick that takes the next.
        var both = await TickAtAsync(Local(2032, 1, 12, 4, 29, 10));
        Assert.Contains($"pruned {c}/auto-2032-01-10-0", both);
        Assert.Contains($"created {c}/auto-2032-01-12-0", both);
        Assert.Equal([$"created {c}/auto-2032-01-13-0"], (await TickAtAsync(Local(2032, 1, 13, 4, 29, 10))).Where(x => x.Contains(c.Name, StringComparison.Ordinal)));
        Assert.Equal(["auto-2032-01-12-0", "auto-2032-01-13-0"], await SnapshotNamesAsync(c));

        // @startup: a snapshot at each start (LXD's startupSnapshot); the default pattern numbers on.
        await LxcOkAsync("config", "unset", c, "snapshots.pattern");
        await LxcOkAsync("config", "set", c, "snapshots.schedule", "@startup, 0 0 1 1 *");
        await LxcOkAsync("start", c);
        Assert.Contains("snap0", await SnapshotNamesAsync(c));
    }

    [Fact]
    public async Task A_profile_schedule_and_an_alias_apply_to_the_instances_using_it()
    {
        await LxcOkAsync("profile", "create", "hourly-snaps");
        try
        {
            await LxcOkAsync("profile", "set", "hourly-snaps", "snapshots.schedule", "@hourly");
            await using var c = await LaunchAsync("sched2", "-p", "default", "-p", "hourly-snaps");
            // @hourly fires once in every hour at a minute of the instance's own (stable; LXD spreads them too).
            var taken = 0;
            var hour = Local(2033, 3, 3, 7, 0, 5);
            for (var m = 0; m < 60; m++)
            {
                taken += (await TickAtAsync(hour.AddMinutes(m))).Count(x => x.StartsWith($"created {c}/", StringComparison.Ordinal));
            }
            Assert.Equal(1, taken);
            Assert.Equal(["snap0"], await SnapshotNamesAsync(c));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "sched2");
            await D.LxcAsync("profile", "delete", "hourly-snaps");
        }
    }

    [Fact]
    public async Task Custom_volumes_take_scheduled_snapshots_that_expire()
    {
        const string vol = "sched-vol";
        try
        {
            await LxcOkAsync("storage", "volume", "create", "default", vol,
                "snapshots.schedule=0 * * * *", "snapshots.expiry=1H", "snapshots.pattern=hourly-%d");
            var at = Local(2034, 7, 1, 10, 59, 5);
            Assert.Contains($"created default/{vol}/hourly-0", await TickAtAsync(at));
            var snaps = await QueryAsync($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots?recursion=1");
            var hourly = Assert.Single(snaps.EnumerateArray());
            Assert.Equal("hourly-0", hourly.GetProperty("name").GetString());
            Assert.Equal(at.AddHours(1), Time(hourly, "expires_at"));
            Assert.Contains("expires_at:", await LxcOkAsync("storage", "volume", "show", "default", $"{vol}/hourly-0"));

            // Snapshots made by hand: snapshots.expiry applies unless --no-expiry (and the name is snap%d, not the pattern).
            await LxcOkAsync("storage", "volume", "snapshot", "default", vol);
            await LxcOkAsync("storage", "volume", "snapshot", "default", vol, "forever", "--no-expiry");
            Assert.Equal(at.AddHours(1), Time(await QueryAsync($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots/snap0"), "expires_at"));
            Assert.Equal("0001-01-01T00:00:00Z", (await QueryAsync($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots/forever")).GetProperty("expires_at").GetString());

            // An hour later both expired ones go (12:00 is not a firing: the 0th minute is taken at :59).
            var done = await TickAtAsync(Local(2034, 7, 1, 12, 0, 5));
            Assert.Contains($"pruned default/{vol}/hourly-0", done);
            Assert.Contains($"pruned default/{vol}/snap0", done);
            Assert.DoesNotContain(done, x => x.StartsWith("created", StringComparison.Ordinal));
            var left = (await QueryAsync($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots?recursion=1")).EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
            Assert.Equal(["forever"], left);

            // The volume's keys are validated as LXD does (no @startup on volumes).
            Assert.Contains("snapshots.schedule", await LxcFailsAsync("storage", "volume", "set", "default", vol, "snapshots.schedule", "@startup"));
            Assert.Contains("snapshots.expiry", await LxcFailsAsync("storage", "volume", "set", "default", vol, "snapshots.expiry", "1 hour"));
            Assert.Contains("snapshots.bogus", await LxcFailsAsync("storage", "volume", "set", "default", vol, "snapshots.bogus", "1"));
            await LxcOkAsync("storage", "volume", "unset", "default", vol, "snapshots.schedule");
            Assert.DoesNotContain(await TickAtAsync(Local(2034, 7, 1, 12, 59, 5)), x => x.Contains(vol, StringComparison.Ordinal));
        }
        finally
        {
            await D.LxcAsync("storage", "volume", "delete", "default", vol);
        }
    }

    [Fact]
    public async Task A_project_that_blocks_snapshots_gets_none_on_schedule_as_in_LXD()
    {
        // Its own (empty) default profile gets a root disk; the images are default's.
        await LxcOkAsync("project", "create", "nosnap", "-c", "features.images=false", "-c", "restricted=true");
        try
        {
            await LxcOkAsync("--project", "nosnap", "profile", "device", "add", "default", "root", "disk", "path=/", "pool=default");
            await LxcOkAsync("--project", "nosnap", "launch", "busybox", "psched", "-c", "snapshots.schedule=* * * * *");
            await using var c = await LaunchAsync("dsched", "-c", "snapshots.schedule=* * * * *");
            var done = await TickAtAsync(Local(2033, 3, 1, 12, 0, 10));
            Assert.Contains(done, x => x.StartsWith($"created {c}/", StringComparison.Ordinal));
            Assert.DoesNotContain(done, x => x.Contains("psched", StringComparison.Ordinal));
            Assert.Empty(JsonDocument.Parse(await LxcOkAsync("query", "/1.0/instances/psched/snapshots?project=nosnap")).RootElement.EnumerateArray());
            // Lifted: the next due tick takes it.
            await LxcOkAsync("project", "set", "nosnap", "restricted.snapshots=allow");
            Assert.Contains(await TickAtAsync(Local(2033, 3, 1, 12, 1, 10)), x => x.Contains("psched", StringComparison.Ordinal));
        }
        finally
        {
            await D.LxcAsync("--project", "nosnap", "delete", "--force", "psched");
            await D.LxcAsync("project", "delete", "nosnap");
        }
    }

    [Theory]
    [InlineData("snapshots.schedule", "61 * * * *")]
    [InlineData("snapshots.schedule", "daily")]
    [InlineData("snapshots.schedule", "@daily,@startup")]
    [InlineData("snapshots.schedule.stopped", "maybe")]
    [InlineData("snapshots.expiry", "1 day")]
    [InlineData("snapshots.expiry", "1d 1d")]
    public async Task Bad_values_are_400s_naming_the_key(string key, string value)
    {
        await using var c = await LaunchAsync("bad-" + (Math.Abs(key.GetHashCode() ^ value.GetHashCode()) % 100000).ToString(CultureInfo.InvariantCulture));
        Assert.Contains(key, await LxcFailsAsync("config", "set", c, key, value));
        Assert.Contains(key, await LxcFailsAsync("profile", "set", "default", key, value));
        var put = await D.Api.PatchAsync($"/1.0/instances/{c}", JsonSerializer.Serialize(new Dictionary<string, Dictionary<string, string>> { ["config"] = new() { [key] = value } }));
        Assert.Equal(HttpStatusCode.BadRequest, put.Status);
        Assert.Contains(key, put.Error);
    }

    private async Task<Launched> LaunchAsync(string name, params string[] extra)
    {
        await LxcOkAsync(["launch", "busybox", name, .. extra]);
        return new Launched(D, name);
    }

    private sealed class Launched(DaemonProcess d, string name) : IAsyncDisposable
    {
        public static implicit operator string(Launched l) => l.Name;

        public string Name => name;

        public override string ToString() => name;

        public async ValueTask DisposeAsync() => await d.LxcAsync("delete", "--force", name);
    }
}

/// <summary>The test clock is not there in a daemon started without HYPERLXD_TEST_CLOCK=1.</summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class TestClockAbsentTests(ContainerDaemon fixture)
{
    [Fact]
    public async Task The_clock_endpoint_does_not_exist_without_the_variable()
    {
        var r = await fixture.Daemon.Api.PutAsync("/internal/testing/clock", "{\"time\": \"2040-01-01T00:00:00Z\"}");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
    }
}
