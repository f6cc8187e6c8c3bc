using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Storage;

/// <summary>What a pool may leave on the host and in the DB: checked after every delete and every refused request.</summary>
public static class StorageLeftovers
{
    public static async Task AssertPoolGoneAsync(DaemonProcess daemon, string pool)
    {
        Assert.Equal("0", await daemon.QueryScalarAsync($"SELECT count(*) FROM storage_pools WHERE name = '{pool}'"));
        Assert.Equal("0", await daemon.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE pool = '{pool}'"));
        var mount = Path.Combine(daemon.Dir, "storage-pools", pool);
        var disk = Path.Combine(daemon.Dir, "disks", pool + ".img");
        Assert.False(Directory.Exists(mount), $"{mount} left behind");
        Assert.False(File.Exists(disk), $"{disk} left behind");
        Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(mount + " ", StringComparison.Ordinal));
        var loops = await ProcessRunner.RunAsync("losetup", new[] { "-a" });
        Assert.DoesNotContain(disk, loops.Stdout);
    }

    public static async Task AssertVolumeGoneAsync(DaemonProcess daemon, string pool, string volume)
    {
        Assert.Equal("0", await daemon.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE pool = '{pool}' AND name = '{volume}'"));
        Assert.False(Directory.Exists(Path.Combine(daemon.Dir, "storage-pools", pool, "custom", volume)));
        Assert.False(Directory.Exists(Path.Combine(daemon.Dir, "storage-pools", pool, "custom-snapshots", volume)));
    }
}
