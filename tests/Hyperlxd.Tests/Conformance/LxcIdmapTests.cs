using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// <c>security.idmap.isolated</c>, <c>.size</c>, <c>.base</c> and <c>raw.idmap</c> through the stock lxc client
/// (issue 9, finding 4: isolated was accepted and ignored, every container shared one map). The shared
/// daemon mounts roots idmapped (the disk stays unshifted); <see cref="LxcIdmapShiftTests"/> covers the
/// chown-shifting fallback.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcIdmapTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    [Fact]
    public async Task Isolated_containers_get_their_own_ranges_and_own_their_files()
    {
        await using var shared = await fixture.LaunchAsync("idm-shared");
        await using var a = await fixture.LaunchAsync("idm-iso-a", "-c", "security.idmap.isolated=true");
        await using var b = await fixture.LaunchAsync("idm-iso-b", "-c", "security.idmap.isolated=true");
        var maps = new Dictionary<string, long>();
        foreach (var name in new[] { shared.Name, a.Name, b.Name })
        {
            var uid = await Idmap.InsideAsync(D, name, "uid_map");
            Assert.Equal(uid, await Idmap.InsideAsync(D, name, "gid_map"));
            var (ns, host, count) = Assert.Single(uid);
            Assert.Equal((0L, 65536L), (ns, count));
            maps[name] = host;
            // LXD's volatile keys, as `lxc config show` displays them.
            Assert.Equal(host.ToString(), (await LxcOkAsync("config", "get", name, "volatile.idmap.base")).Trim());
            Assert.Equal(Idmap.Json(host, 65536), (await LxcOkAsync("config", "get", name, "volatile.idmap.next")).Trim());
            Assert.Equal(Idmap.Json(host, 65536), (await LxcOkAsync("config", "get", name, "volatile.idmap.current")).Trim());
            Assert.Contains("volatile.last_state.idmap: '[]'", await LxcOkAsync("config", "show", name));
        }
        Assert.Equal(3, maps.Values.Distinct().Count());
        foreach (var x in maps.Values)
        {
            foreach (var y in maps.Values.Where(y => y != x))
            {
                Assert.True(x + 65536 <= y || y + 65536 <= x, $"ranges at {x} and {y} overlap");
            }
        }

        // Whatever a container's root makes is its own range's on the host, and root's inside.
        foreach (var (name, host) in maps)
        {
            await LxcOkAsync("exec", name, "--", "sh", "-c", "echo x > /root/made");
            var pid = await fixture.InitPidAsync(name);
            Assert.Equal((host, host), await Idmap.OwnerAsync($"/proc/{pid}/root/root/made"));
            Assert.Equal("0:0", (await LxcOkAsync("exec", name, "--", "stat", "-c", "%u:%g", "/root/made")).Trim());
            Assert.Equal("0", (await LxcOkAsync("exec", name, "--", "stat", "-c", "%u", "/etc/passwd")).Trim());
        }
    }

    [Fact]
    public async Task Toggling_isolated_on_a_stopped_container_moves_its_map()
    {
        await using var c = await fixture.LaunchAsync("idm-toggle");
        var shared = Assert.Single(await Idmap.InsideAsync(D, c.Name, "uid_map")).Host;
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo before > /root/before");
        await LxcOkAsync("stop", c.Name);

        await LxcOkAsync("config", "set", c.Name, "security.idmap.isolated", "true");
        var next = (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.next")).Trim();
        var isolated = long.Parse((await LxcOkAsync("config", "get", c.Name, "volatile.idmap.base")).Trim());
        Assert.NotEqual(shared, isolated);
        Assert.True(isolated >= shared + 65536, $"isolated base {isolated} inside the shared map at {shared}");
        Assert.Equal(Idmap.Json(isolated, 65536), next);
        Assert.Equal(Idmap.Json(shared, 65536), (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.current")).Trim());

        await LxcOkAsync("start", c.Name);
        Assert.Equal(next, (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.current")).Trim());
        Assert.Equal(new[] { (0L, isolated, 65536L) }, await Idmap.InsideAsync(D, c.Name, "uid_map"));
        Assert.Equal("0", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u", "/etc/passwd")).Trim());
        Assert.Equal("0 before", (await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo $(stat -c %u /root/before) $(cat /root/before)")).Trim());
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo x > /root/after");
        Assert.Equal((isolated, isolated), await Idmap.OwnerAsync($"/proc/{await fixture.InitPidAsync(c.Name)}/root/root/after"));

        // A running container's map cannot change under it.
        Assert.NotEqual(0, (await D.LxcAsync("config", "set", c.Name, "security.idmap.size", "131072")).ExitCode);

        // A bigger range and back to the shared map, each recorded at once and used at the next start.
        await LxcOkAsync("stop", c.Name);
        await LxcOkAsync("config", "set", c.Name, "security.idmap.size", "131072");
        var bigger = long.Parse((await LxcOkAsync("config", "get", c.Name, "volatile.idmap.base")).Trim());
        Assert.Equal(Idmap.Json(bigger, 131072), (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.next")).Trim());
        await LxcOkAsync("config", "unset", c.Name, "security.idmap.isolated");
        Assert.Equal(Idmap.Json(shared, 65536), (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.next")).Trim());
        await LxcOkAsync("start", c.Name);
        Assert.Equal(new[] { (0L, shared, 65536L) }, await Idmap.InsideAsync(D, c.Name, "uid_map"));
        Assert.Equal("0", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u", "/root/after")).Trim());

        // As LXD: a privileged container has no map, whatever security.idmap.* say.
        await LxcOkAsync("stop", c.Name);
        await LxcOkAsync("config", "set", c.Name, "security.idmap.isolated", "true");
        await LxcOkAsync("config", "set", c.Name, "security.privileged", "true");
        Assert.Equal("[]", (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.next")).Trim());
        Assert.Equal("0", (await LxcOkAsync("config", "get", c.Name, "volatile.idmap.base")).Trim());
    }

    [Fact]
    public async Task Raw_idmap_maps_a_host_id_into_the_container()
    {
        await using var c = await fixture.LaunchAsync("idm-raw", "-c", "raw.idmap=both 1000 1000");
        var shared = (await Idmap.InsideAsync(D, c.Name, "uid_map")).First(l => l.Ns == 0).Host;
        var expected = new[] { (0L, shared, 1000L), (1000L, 1000L, 1L), (1001L, shared + 1001, 64535L) };
        Assert.Equal(expected, await Idmap.InsideAsync(D, c.Name, "uid_map"));
        Assert.Equal(expected, await Idmap.InsideAsync(D, c.Name, "gid_map"));
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo x > /tmp/f; chown 1000:1000 /tmp/f");
        Assert.Equal((1000L, 1000L), await Idmap.OwnerAsync($"/proc/{await fixture.InitPidAsync(c.Name)}/root/tmp/f"));
        Assert.Equal("1000:1000", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u:%g", "/tmp/f")).Trim());
        Assert.Equal("0", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u", "/etc/passwd")).Trim());
    }

    [Fact]
    public async Task Bad_idmap_keys_are_400s_naming_the_key_and_change_nothing()
    {
        await LxcOkAsync("init", "busybox", "idm-bad");
        try
        {
            var before = await D.Api.GetAsync("/1.0/instances/idm-bad");
            var inside = $"both {long.Parse((await LxcOkAsync("config", "get", "idm-bad", "volatile.idmap.base")).Trim()) + 5} 5";
            var cases = new (Dictionary<string, string> Config, string Key)[]
            {
                (new() { ["raw.idmap"] = "both 1000" }, "raw.idmap"),
                (new() { ["raw.idmap"] = "all 1000 1000" }, "raw.idmap"),
                (new() { ["raw.idmap"] = "both 10-20 10-15" }, "raw.idmap"),
                (new() { ["raw.idmap"] = inside }, "raw.idmap"), // host ids inside the container's own range
                (new() { ["security.idmap.size"] = "100" }, "security.idmap.size"),
                (new() { ["security.idmap.isolated"] = "true", ["security.idmap.size"] = "4000000000" }, "security.idmap.size"),
                (new() { ["security.idmap.isolated"] = "true", ["security.idmap.base"] = "5" }, "security.idmap.base"),
                (new() { ["security.idmap.base"] = "-1" }, "security.idmap.base"),
            };
            foreach (var (config, key) in cases)
            {
                var patch = await D.Api.PatchAsync("/1.0/instances/idm-bad", JsonSerializer.Serialize(new Dictionary<string, object> { ["config"] = config }));
                Assert.True(patch.Status == HttpStatusCode.BadRequest, $"{string.Join(",", config)}: {patch}");
                Assert.Contains($"\"{key}\"", patch.Error);

                var create = await D.Api.PostAsync("/1.0/instances", JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["name"] = "idm-bad-new",
                    ["source"] = new Dictionary<string, string> { ["type"] = "image", ["alias"] = "busybox" },
                    ["config"] = config,
                }));
                Assert.True(create.Status == HttpStatusCode.BadRequest, $"{string.Join(",", config)}: {create}");
                Assert.Contains($"\"{key}\"", create.Error);
            }
            var set = await D.LxcAsync("config", "set", "idm-bad", "raw.idmap", inside);
            Assert.NotEqual(0, set.ExitCode);
            Assert.Contains("raw.idmap", set.Stderr);
            var after = await D.Api.GetAsync("/1.0/instances/idm-bad");
            Assert.Equal(before.Metadata.GetProperty("config").ToString(), after.Metadata.GetProperty("config").ToString());
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/idm-bad-new")).Status);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "idm-bad");
        }
    }

    [Fact]
    public async Task Concurrent_isolated_creates_never_share_a_range()
    {
        var names = Enumerable.Range(0, 5).Select(i => $"idm-par-{i}").ToList();
        try
        {
            var results = await Task.WhenAll(names.Select(n => D.LxcAsync("init", "busybox", n, "-c", "security.idmap.isolated=true")));
            Assert.All(results, r => Assert.True(r.ExitCode == 0, r.ToString()));
            var bases = new List<long>();
            foreach (var n in names)
            {
                bases.Add(long.Parse((await LxcOkAsync("config", "get", n, "volatile.idmap.base")).Trim()));
            }
            bases.Sort();
            for (var i = 1; i < bases.Count; i++)
            {
                Assert.True(bases[i] >= bases[i - 1] + 65536, $"ranges overlap: {string.Join(", ", bases)}");
            }
        }
        finally
        {
            await Task.WhenAll(names.Select(n => D.LxcAsync("delete", "--force", n)));
        }
    }

    [Fact]
    public async Task Snapshot_and_restore_keep_the_map_of_the_snapshot()
    {
        await using var c = await fixture.LaunchAsync("idm-snap", "-c", "security.idmap.isolated=true");
        var isolated = Assert.Single(await Idmap.InsideAsync(D, c.Name, "uid_map")).Host;
        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo kept > /root/kept");
        await LxcOkAsync("snapshot", c.Name, "s0");
        await LxcOkAsync("stop", c.Name);
        await LxcOkAsync("config", "unset", c.Name, "security.idmap.isolated");
        await LxcOkAsync("start", c.Name);
        var shared = Assert.Single(await Idmap.InsideAsync(D, c.Name, "uid_map")).Host;
        Assert.NotEqual(isolated, shared);
        Assert.Equal("0 kept", (await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo $(stat -c %u /root/kept) $(cat /root/kept)")).Trim());

        await LxcOkAsync("restore", c.Name, "s0");
        Assert.Equal("true", (await LxcOkAsync("config", "get", c.Name, "security.idmap.isolated")).Trim());
        var restored = Assert.Single(await Idmap.InsideAsync(D, c.Name, "uid_map")).Host;
        Assert.True(restored >= shared + 65536, $"restored map at {restored}, inside the shared map at {shared}");
        Assert.Equal("0 kept", (await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo $(stat -c %u /root/kept) $(cat /root/kept)")).Trim());
        Assert.Equal("0", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u", "/etc/passwd")).Trim());
    }
}

/// <summary>
/// The chown-shifting fallback (<c>HYPERLXD_IDMAPPED_MOUNTS=0</c>, as on filesystems without idmapped mounts):
/// the files on the pool are owned by the container's range and follow its map when it changes.
/// </summary>
public sealed class LxcIdmapShiftTests
{
    [Fact]
    public async Task Changing_the_map_reshifts_the_disk_at_start_and_restore_keeps_it_consistent()
    {
        await ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync(daemonEnv: new Dictionary<string, string> { ["HYPERLXD_IDMAPPED_MOUNTS"] = "0" });
        try
        {
            await d.PrepareContainersAsync(ImageFixture.Busybox);
            async Task<string> Lxc(params string[] args) => (await d.LxcOkAsync(args)).Trim();
            var rootfs = Path.Combine(d.Dir, "storage-pools", "default", "containers", "shift", "rootfs");

            await Lxc("launch", "busybox", "shift");
            Assert.True(Directory.Exists(rootfs), rootfs);
            var shared = Assert.Single(await Idmap.InsideAsync(d, "shift", "uid_map")).Host;
            Assert.Equal(Idmap.Json(shared, 65536), await Lxc("config", "get", "shift", "volatile.last_state.idmap"));
            Assert.Equal((shared, shared), await Idmap.OwnerAsync(Path.Combine(rootfs, "etc", "passwd")));
            await Lxc("exec", "shift", "--", "sh", "-c", "echo x > /root/made; chown 1000:1000 /root/made; chmod 4755 /root/made");
            await Lxc("stop", "shift");

            // Isolated: the disk moves to the new range at the next start, setuid bits and all.
            await Lxc("config", "set", "shift", "security.idmap.isolated", "true");
            var isolated = long.Parse(await Lxc("config", "get", "shift", "volatile.idmap.base"));
            Assert.Equal(Idmap.Json(shared, 65536), await Lxc("config", "get", "shift", "volatile.last_state.idmap")); // not yet
            await Lxc("start", "shift");
            Assert.Equal(Idmap.Json(isolated, 65536), await Lxc("config", "get", "shift", "volatile.last_state.idmap"));
            Assert.Equal(new[] { (0L, isolated, 65536L) }, await Idmap.InsideAsync(d, "shift", "uid_map"));
            Assert.Equal((isolated, isolated), await Idmap.OwnerAsync(Path.Combine(rootfs, "etc", "passwd")));
            Assert.Equal((isolated + 1000, isolated + 1000), await Idmap.OwnerAsync(Path.Combine(rootfs, "root", "made")));
            Assert.Equal("0", await Lxc("exec", "shift", "--", "stat", "-c", "%u", "/etc/passwd"));
            Assert.Equal("1000:1000 4755", await Lxc("exec", "shift", "--", "stat", "-c", "%u:%g %a", "/root/made"));
            await Lxc("snapshot", "shift", "s0");

            // raw.idmap: container id 1000 is host id 1000, on the disk too.
            await Lxc("stop", "shift");
            await Lxc("config", "set", "shift", "raw.idmap", "both 1000 1000");
            await Lxc("start", "shift");
            Assert.Equal((1000L, 1000L), await Idmap.OwnerAsync(Path.Combine(rootfs, "root", "made")));
            Assert.Equal((isolated, isolated), await Idmap.OwnerAsync(Path.Combine(rootfs, "etc", "passwd")));
            Assert.Equal("1000:1000", await Lxc("exec", "shift", "--", "stat", "-c", "%u:%g", "/root/made"));

            // Back to the shared map, then the snapshot (shifted to the isolated map) comes back.
            await Lxc("stop", "shift");
            await Lxc("config", "unset", "shift", "raw.idmap");
            await Lxc("config", "unset", "shift", "security.idmap.isolated");
            await Lxc("start", "shift");
            Assert.Equal((shared, shared), await Idmap.OwnerAsync(Path.Combine(rootfs, "etc", "passwd")));
            Assert.Equal((shared + 1000, shared + 1000), await Idmap.OwnerAsync(Path.Combine(rootfs, "root", "made")));
            await Lxc("restore", "shift", "s0");
            var restored = long.Parse(await Lxc("config", "get", "shift", "volatile.idmap.base"));
            Assert.Equal(Idmap.Json(restored, 65536), await Lxc("config", "get", "shift", "volatile.last_state.idmap"));
            Assert.Equal((restored, restored), await Idmap.OwnerAsync(Path.Combine(rootfs, "etc", "passwd")));
            Assert.Equal("0", await Lxc("exec", "shift", "--", "stat", "-c", "%u", "/etc/passwd"));
            Assert.Equal("1000:1000 4755", await Lxc("exec", "shift", "--", "stat", "-c", "%u:%g %a", "/root/made"));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }
}

internal static class Idmap
{
    /// <summary>LXD's JSON for a uid and a gid range starting at <paramref name="host"/>.</summary>
    public static string Json(long host, long size) =>
        $"[{{\"Isuid\":true,\"Isgid\":false,\"Hostid\":{host},\"Nsid\":0,\"Maprange\":{size}}}," +
        $"{{\"Isuid\":false,\"Isgid\":true,\"Hostid\":{host},\"Nsid\":0,\"Maprange\":{size}}}]";

    /// <summary>/proc/self/uid_map (or gid_map) as a process inside the container sees it.</summary>
    public static async Task<List<(long Ns, long Host, long Count)>> InsideAsync(DaemonProcess d, string name, string file)
    {
        var r = await d.LxcAsync("exec", name, "--", "cat", "/proc/self/" + file);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => (long.Parse(f[0]), long.Parse(f[1]), long.Parse(f[2])))
            .ToList();
    }

    /// <summary>Owner of a host path as the host sees it (does not follow a final link).</summary>
    public static async Task<(long Uid, long Gid)> OwnerAsync(string path)
    {
        var r = await ProcessRunner.RunAsync("stat", new[] { "-c", "%u %g", path });
        Assert.True(r.ExitCode == 0, r.ToString());
        var f = r.Stdout.Trim().Split(' ');
        return (long.Parse(f[0]), long.Parse(f[1]));
    }
}
