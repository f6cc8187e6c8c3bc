using System.Net;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;
using Hyperlxd.Tests.Storage;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// `lxc copy` and `lxc move` (rename, --storage) with the stock lxc 5.0.2 client, and pylxd's copy (a create
/// with source type "copy"), on dir and btrfs pools.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcCopyTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private string VolumePath(string pool, string name) => Path.Combine(D.Dir, "storage-pools", pool, "containers", name);

    private string SnapshotPath(string pool, string name, string snap) => Path.Combine(D.Dir, "storage-pools", pool, "containers-snapshots", name, snap);

    private async Task<string> CatAsync(string name, string path) => (await LxcOkAsync("exec", name, "--", "cat", path)).Trim();

    /// <summary>The "Snapshots:" table of `lxc info` (names, taken at, expires at), or "" when it has none.</summary>
    private async Task<string> SnapshotTableAsync(string name)
    {
        var info = await LxcOkAsync("info", name);
        var at = info.IndexOf("Snapshots:", StringComparison.Ordinal);
        return at < 0 ? "" : info[at..].Trim();
    }

    private async Task<string> ConfigGetAsync(string name, string key) => (await LxcOkAsync("config", "get", name, key)).Trim();

    private async Task<string> SubvolumeFieldAsync(string path, string field)
    {
        var r = await ProcessRunner.RunAsync("btrfs", new[] { "subvolume", "show", path });
        Assert.True(r.ExitCode == 0, r.ToString());
        var line = r.Stdout.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        Assert.True(line is not null, $"{field} in {r.Stdout}");
        return line[(field.Length + 1)..].Trim();
    }

    private async Task AssertInstanceGoneAsync(string name)
    {
        Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/" + name)).Status);
        Assert.Equal("0", await D.QueryScalarAsync($"SELECT count(*) FROM instances WHERE name = '{name}'"));
        Assert.Equal("0", await D.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE type = 'container' AND name = '{name}'"));
        foreach (var pool in Directory.GetDirectories(Path.Combine(D.Dir, "storage-pools")))
        {
            Assert.False(Directory.Exists(Path.Combine(pool, "containers", name)), $"{pool}/containers/{name} left behind");
            Assert.False(Directory.Exists(Path.Combine(pool, "containers-snapshots", name)), $"{pool}/containers-snapshots/{name} left behind");
        }
    }

    [Theory]
    [InlineData("dir")]
    [InlineData("btrfs")]
    public async Task Copy_with_two_snapshots_keeps_data_and_the_snapshot_list(string driver)
    {
        var pool = driver == "dir" ? "default" : "cp-btrfs";
        var src = "cp-src-" + driver;
        var dst = "cp-dst-" + driver;
        try
        {
            if (driver == "btrfs")
            {
                await LxcOkAsync("storage", "create", pool, "btrfs", "size=1GiB");
            }
            await LxcOkAsync("launch", "busybox", src, "-s", pool);
            await LxcOkAsync("exec", src, "--", "sh", "-c", "echo one > /root/data && mkdir -p /root/tree && ln /root/data /root/tree/hard && chown 12:34 /root/data");
            // A device node, made from the host (an unprivileged container may not mknod).
            var mknod = await ProcessRunner.RunAsync("mknod", new[] { Path.Combine(VolumePath(pool, src), "rootfs", "root", "null"), "c", "1", "3" });
            Assert.True(mknod.ExitCode == 0, mknod.ToString());
            await LxcOkAsync("snapshot", src, "s1");
            await LxcOkAsync("exec", src, "--", "sh", "-c", "echo two > /root/data");
            await LxcOkAsync("snapshot", src, "s2");
            await LxcOkAsync("exec", src, "--", "sh", "-c", "echo three > /root/data");
            await LxcOkAsync("stop", src);

            await LxcOkAsync("copy", src, dst);

            Assert.Equal(await SnapshotTableAsync(src), await SnapshotTableAsync(dst));
            Assert.Contains("s1", await SnapshotTableAsync(dst));
            Assert.Contains("s2", await SnapshotTableAsync(dst));
            Assert.Equal("copy", await ConfigGetAsync(dst, "volatile.apply_template"));
            Assert.Equal(await ConfigGetAsync(src, "volatile.base_image"), await ConfigGetAsync(dst, "volatile.base_image"));
            Assert.True(Directory.Exists(VolumePath(pool, dst)));
            Assert.True(Directory.Exists(SnapshotPath(pool, dst, "s1")));
            Assert.True(Directory.Exists(SnapshotPath(pool, dst, "s2")));
            if (driver == "btrfs")
            {
                // Subvolume snapshots of the source's subvolumes, not file copies.
                Assert.Equal(await SubvolumeFieldAsync(VolumePath(pool, src), "UUID"), await SubvolumeFieldAsync(VolumePath(pool, dst), "Parent UUID"));
                Assert.Equal(await SubvolumeFieldAsync(SnapshotPath(pool, src, "s1"), "UUID"), await SubvolumeFieldAsync(SnapshotPath(pool, dst, "s1"), "Parent UUID"));
                Assert.Contains("readonly", await SubvolumeFieldAsync(SnapshotPath(pool, dst, "s2"), "Flags"));
            }

            await LxcOkAsync("start", dst);
            Assert.Equal("three", await CatAsync(dst, "/root/data"));
            // Owners, hard links and device nodes came along.
            Assert.Matches(@"^\d+\s+-rw-r--r--\s+2\s+12\s+34\s", (await LxcOkAsync("exec", dst, "--", "ls", "-lni", "/root/data")).Trim());
            Assert.Equal(
                (await LxcOkAsync("exec", dst, "--", "stat", "-c", "%i", "/root/data")).Trim(),
                (await LxcOkAsync("exec", dst, "--", "stat", "-c", "%i", "/root/tree/hard")).Trim());
            Assert.StartsWith("c", (await LxcOkAsync("exec", dst, "--", "ls", "-l", "/root/null")).Trim());
            await LxcOkAsync("restore", dst, "s1");
            Assert.Equal("one", await CatAsync(dst, "/root/data"));
            await LxcOkAsync("restore", dst, "s2");
            Assert.Equal("two", await CatAsync(dst, "/root/data"));

            // The source is untouched by all of it.
            await LxcOkAsync("start", src);
            Assert.Equal("three", await CatAsync(src, "/root/data"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", dst);
            await D.LxcAsync("delete", "--force", src);
            if (driver == "btrfs")
            {
                await D.LxcAsync("storage", "delete", pool);
            }
        }
        await AssertInstanceGoneAsync(dst);
        if (driver == "btrfs")
        {
            await StorageLeftovers.AssertPoolGoneAsync(D, pool);
        }
    }

    [Fact]
    public async Task Instance_only_copy_and_copy_of_a_snapshot()
    {
        await using var src = await fixture.LaunchAsync("cp-only-src");
        try
        {
            await LxcOkAsync("exec", src.Name, "--", "sh", "-c", "echo old > /root/data");
            await LxcOkAsync("snapshot", src.Name, "s1");
            await LxcOkAsync("exec", src.Name, "--", "sh", "-c", "echo new > /root/data");
            await LxcOkAsync("config", "set", src.Name, "user.after", "yes");

            await LxcOkAsync("copy", src.Name, "cp-only", "--instance-only");
            Assert.Equal("", await SnapshotTableAsync("cp-only"));
            Assert.Equal(0, (await D.Api.GetAsync("/1.0/instances/cp-only/snapshots")).Metadata.GetArrayLength());
            Assert.False(Directory.Exists(Path.Combine(D.Dir, "storage-pools", "default", "containers-snapshots", "cp-only")));
            Assert.Equal("yes", await ConfigGetAsync("cp-only", "user.after"));
            await LxcOkAsync("start", "cp-only");
            Assert.Equal("new", await CatAsync("cp-only", "/root/data"));

            // A snapshot copies to a plain instance with the snapshot's files and config.
            await LxcOkAsync("copy", src.Name + "/s1", "cp-snap");
            Assert.Equal("", await SnapshotTableAsync("cp-snap"));
            Assert.Equal("", await ConfigGetAsync("cp-snap", "user.after"));
            await LxcOkAsync("start", "cp-snap");
            Assert.Equal("old", await CatAsync("cp-snap", "/root/data"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "cp-only");
            await D.LxcAsync("delete", "--force", "cp-snap");
        }
        await AssertInstanceGoneAsync("cp-only");
        await AssertInstanceGoneAsync("cp-snap");
    }

    [Fact]
    public async Task Copy_of_a_running_container_starts_beside_it_with_its_own_mac()
    {
        await using var src = await fixture.LaunchAsync("cp-run-src");
        try
        {
            await LxcOkAsync("exec", src.Name, "--", "sh", "-c", "echo live > /root/data");
            await LxcOkAsync("copy", src.Name, "cp-run", "-c", "user.extra=1");
            Assert.Equal("1", await ConfigGetAsync("cp-run", "user.extra"));
            await LxcOkAsync("start", "cp-run");
            Assert.Equal("live", await CatAsync("cp-run", "/root/data"));
            var list = await LxcOkAsync("list", "cp-run", "-c", "ns", "--format", "csv");
            Assert.Contains("cp-run-src,RUNNING", list);
            Assert.Contains("cp-run,RUNNING", list);
            var nics = (await D.Api.GetAsync("/1.0/instances/cp-run-src?recursion=1")).Metadata.GetProperty("expanded_config")
                .EnumerateObject().Where(p => p.Name.EndsWith(".hwaddr", StringComparison.Ordinal)).ToList();
            foreach (var nic in nics)
            {
                var copy = await ConfigGetAsync("cp-run", nic.Name);
                Assert.NotEqual("", copy);
                Assert.NotEqual(nic.Value.GetString(), copy);
            }
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "cp-run");
        }
        await AssertInstanceGoneAsync("cp-run");
    }

    [Fact]
    public async Task Move_renames_and_moves_to_another_pool_with_snapshots()
    {
        const string pool = "mv-btrfs";
        try
        {
            await LxcOkAsync("storage", "create", pool, "btrfs", "size=1GiB");
            await LxcOkAsync("launch", "busybox", "mv-a");
            await LxcOkAsync("exec", "mv-a", "--", "sh", "-c", "echo kept > /root/data");
            await LxcOkAsync("snapshot", "mv-a", "s1");
            var snaps = await SnapshotTableAsync("mv-a");
            var mac = await ConfigGetAsync("mv-a", "volatile.eth0.hwaddr");

            // Running: stopped for the move, started again after it, same name, same MAC.
            await LxcOkAsync("move", "mv-a", "--storage", pool);
            Assert.Contains("mv-a,RUNNING", await LxcOkAsync("list", "mv-a", "-c", "ns", "--format", "csv"));
            Assert.Equal("kept", await CatAsync("mv-a", "/root/data"));
            Assert.Equal(snaps, await SnapshotTableAsync("mv-a"));
            Assert.Equal(mac, await ConfigGetAsync("mv-a", "volatile.eth0.hwaddr"));
            Assert.Contains("pool: " + pool, await LxcOkAsync("config", "device", "show", "mv-a"));
            Assert.True(Directory.Exists(VolumePath(pool, "mv-a")));
            Assert.True(Directory.Exists(SnapshotPath(pool, "mv-a", "s1")));
            Assert.False(Directory.Exists(VolumePath("default", "mv-a")));
            Assert.False(Directory.Exists(Path.Combine(D.Dir, "storage-pools", "default", "containers-snapshots", "mv-a")));
            Assert.Equal("0", await D.QueryScalarAsync("SELECT count(*) FROM storage_volumes WHERE pool = 'default' AND name = 'mv-a'"));
            Assert.Equal("1", await D.QueryScalarAsync($"SELECT count(*) FROM storage_volumes WHERE pool = '{pool}' AND name = 'mv-a'"));
            Assert.DoesNotContain("move-", await LxcOkAsync("list", "--format", "csv", "-c", "n"));

            // A plain rename keeps the snapshots; a move with a new name and pool does both.
            await LxcOkAsync("stop", "mv-a");
            await LxcOkAsync("move", "mv-a", "mv-b");
            Assert.Equal(snaps, await SnapshotTableAsync("mv-b"));
            await LxcOkAsync("move", "mv-b", "mv-c", "-s", "default");
            Assert.True(Directory.Exists(VolumePath("default", "mv-c")));
            Assert.True(Directory.Exists(SnapshotPath("default", "mv-c", "s1")));
            Assert.False(Directory.Exists(VolumePath(pool, "mv-b")));
            await LxcOkAsync("start", "mv-c");
            Assert.Equal("kept", await CatAsync("mv-c", "/root/data"));
            await LxcOkAsync("restore", "mv-c", "s1");

            // Unknown pool: refused before anything moves.
            var bad = await D.LxcAsync("move", "mv-c", "--storage", "no-such-pool");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("no-such-pool", bad.Stderr);
            Assert.True(Directory.Exists(VolumePath("default", "mv-c")));
        }
        finally
        {
            foreach (var n in new[] { "mv-a", "mv-b", "mv-c" })
            {
                await D.LxcAsync("delete", "--force", n);
            }
            await D.LxcAsync("storage", "delete", pool);
        }
        await AssertInstanceGoneAsync("mv-a");
        await AssertInstanceGoneAsync("mv-c");
        await StorageLeftovers.AssertPoolGoneAsync(D, pool);
    }

    [Fact]
    public async Task Bad_copies_are_refused_naming_the_problem_and_create_nothing()
    {
        await using var src = await fixture.LaunchAsync("cp-bad-src");
        await LxcOkAsync("snapshot", src.Name, "s1");
        await using var other = await fixture.LaunchAsync("cp-bad-other");

        var exists = await D.LxcAsync("copy", src.Name, other.Name);
        Assert.NotEqual(0, exists.ExitCode);
        Assert.Contains("cp-bad-other", exists.Stderr);
        Assert.Contains("already exists", exists.Stderr);

        var missing = await D.LxcAsync("copy", "cp-no-such", "cp-bad-x");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("not found", missing.Stderr, StringComparison.OrdinalIgnoreCase);

        var noSnap = await D.LxcAsync("copy", src.Name + "/nosnap", "cp-bad-y");
        Assert.NotEqual(0, noSnap.ExitCode);
        Assert.Contains("not found", noSnap.Stderr, StringComparison.OrdinalIgnoreCase);

        var refresh = await D.LxcAsync("copy", src.Name, "cp-bad-r", "--refresh");
        Assert.NotEqual(0, refresh.ExitCode);
        Assert.Contains("incremental", refresh.Stderr);

        // The same through the API, as an attacker would send it: refused by the POST itself.
        foreach (var (name, source, expect) in new[]
        {
            ("cp-bad-z", "../etc", "Invalid copy source"),
            ("cp-bad-z", "cp-bad-src/../x", "Invalid copy source"),
            ("cp-bad-z", "cp-bad-src/s1/x", "Invalid copy source"),
            ("cp-bad-z", "cp-bad-src/..", "Invalid copy source"),
            ("cp-bad-z", "", "source"),
            ("cp/bad", "cp-bad-src", "Invalid instance name"),
            ("..", "cp-bad-src", "Invalid instance name"),
            ("cp-bad-z", "cp-no-such", "not found"),
            ("cp-bad-z", "cp-bad-src/nosnap", "not found"),
        })
        {
            var r = await D.Api.PostAsync("/1.0/instances", $$$"""{"name": "{{{name}}}", "source": {"type": "copy", "source": "{{{source}}}"}}""");
            Assert.True(r.Status is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{name} <- {source}: {r}");
            Assert.Contains(expect, r.Error, StringComparison.OrdinalIgnoreCase);
        }
        var conflict = await D.Api.PostAsync("/1.0/instances", """{"name": "cp-bad-other", "source": {"type": "copy", "source": "cp-bad-src"}}""");
        Assert.Equal(HttpStatusCode.Conflict, conflict.Status);

        foreach (var n in new[] { "cp-bad-x", "cp-bad-y", "cp-bad-r", "cp-bad-z" })
        {
            await AssertInstanceGoneAsync(n);
        }
        Assert.Equal("1", await D.QueryScalarAsync("SELECT count(*) FROM instance_snapshots WHERE instance = 'cp-bad-src'"));
        Assert.Equal("0", await D.QueryScalarAsync("SELECT count(*) FROM instance_snapshots WHERE instance = 'cp-bad-other'"));
    }

    [Fact]
    public async Task Pylxd_creates_a_copy_from_source_type_copy()
    {
        await using var src = await fixture.LaunchAsync("py-cp-src", "-c", "user.origin=src");
        try
        {
            await LxcOkAsync("exec", src.Name, "--", "sh", "-c", "echo py > /root/data");
            await LxcOkAsync("snapshot", src.Name, "s1");
            var r = await D.PythonAsync("""
                import warnings, pylxd
                warnings.simplefilter('ignore')
                c = pylxd.Client()
                n = c.containers.create({'name': 'py-cp', 'source': {'type': 'copy', 'source': 'py-cp-src'}}, wait=True)
                print(n.name, n.config.get('user.origin'), n.profiles, [s.name for s in n.snapshots.all()])
                n.start(wait=True)
                print(n.execute(['cat', '/root/data']).stdout.strip())
                n.stop(wait=True)
                n.delete(wait=True)
                print(c.containers.exists('py-cp'))
                """);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal("py-cp src ['default'] ['s1']\npy\nFalse", r.Stdout.Trim());
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "py-cp");
        }
        await AssertInstanceGoneAsync("py-cp");
    }
}
