using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: volumes and devices on running containers, with the stock lxc 5.0.2 client (and pylxd
/// 2.2.10 on the storage volume calls): a custom volume attached with <c>lxc storage volume attach</c>
/// (its data the container's, through its id map; <c>used_by</c> filled; its delete refused while in
/// use), disks and unix-char devices hot-plugged and unplugged on a running container, a root disk
/// defined twice refused naming both sources.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcDeviceHotplugTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private string VolumeDir(string volume) => Path.Combine(D.Dir, "storage-pools", "default", "custom", volume);

    private async Task<List<string>> UsedByAsync(string volume) =>
        (await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{volume}")).Metadata.GetProperty("used_by")
            .EnumerateArray().Select(e => e.GetString()!).ToList();

    /// <summary>The host uid that is root inside the running container (its uid_map's first line).</summary>
    private async Task<uint> HostRootAsync(string name)
    {
        var map = await File.ReadAllLinesAsync($"/proc/{await fixture.InitPidAsync(name)}/uid_map");
        var f = map[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", f[0]);
        return uint.Parse(f[1]);
    }

    private async Task<string> MountsAsync(string name) => await fixture.LxcOkAsync("exec", name, "--", "cat", "/proc/self/mounts");

    [Fact]
    public async Task Lxc_storage_volume_attach_shows_the_data_as_the_containers_and_hotplugs_on_a_running_one()
    {
        const string c = "hp-vol", vol = "hp-tv";
        await fixture.LxcOkAsync("storage", "volume", "create", "default", vol);
        try
        {
            // Data put there by the host's root before any attach: the container's root must own it.
            await File.WriteAllTextAsync(Path.Combine(VolumeDir(vol), "seed"), "from-the-host\n");
            await fixture.LxcOkAsync("init", "busybox", c);
            await using (new LaunchedContainer(fixture, c))
            {
                // Without a path (3 arguments, as for a VM): refused for a container, nothing added.
                var noPath = await D.LxcAsync("storage", "volume", "attach", "default", vol, c);
                Assert.NotEqual(0, noPath.ExitCode);
                Assert.Contains("needs a \"path\" inside a container", noPath.Stderr);

                // lxc 5.0.2 with 4 arguments: device "hp-tv" = {type: disk, pool: default, source: hp-tv, path: /mnt/vol}.
                await fixture.LxcOkAsync("storage", "volume", "attach", "default", vol, c, "/mnt/vol");
                var device = (await D.Api.GetAsync($"/1.0/instances/{c}")).Metadata.GetProperty("devices").GetProperty(vol);
                Assert.Equal("/mnt/vol", device.GetProperty("path").GetString());
                Assert.Equal(vol, device.GetProperty("source").GetString());
                Assert.Equal("default", device.GetProperty("pool").GetString());
                Assert.Equal(new[] { $"/1.0/instances/{c}" }, await UsedByAsync(vol));

                await fixture.LxcOkAsync("start", c);
                Assert.Equal("from-the-host\n", await fixture.LxcOkAsync("exec", c, "--", "cat", "/mnt/vol/seed"));
                Assert.Equal("0 0\n", await fixture.LxcOkAsync("exec", c, "--", "stat", "-c", "%u %g", "/mnt/vol/seed"));
                await fixture.LxcOkAsync("exec", c, "--", "sh", "-c", "echo from-inside > /mnt/vol/inside");
                var hostRoot = await HostRootAsync(c);
                var st = await ProcessRunner.RunAsync("stat", ["-c", "%u %g", Path.Combine(VolumeDir(vol), "inside")]);
                Assert.Equal($"{hostRoot} {hostRoot}", st.Stdout.Trim());
                // The map the volume now holds, as LXD records it on the volume.
                var show = await fixture.LxcOkAsync("storage", "volume", "show", "default", vol);
                Assert.Contains($"volatile.idmap.last: '[{{\"Isuid\":true,\"Isgid\":false,\"Hostid\":{hostRoot}", show);

                                // In use: LXD's 400, and the volume stays.
                var del = await D.Api.DeleteAsync($"/1.0/storage-pools/default/volumes/custom/{vol}");
                Assert.Equal(HttpStatusCode.BadRequest, del.Status);
                Assert.Contains("The storage volume is still in use", del.Error);
                Assert.Contains($"/1.0/instances/{c}", del.Error);
                Assert.True(File.Exists(Path.Combine(VolumeDir(vol), "inside")));

                // Hot-unplug from the running container: gone from its mounts, used_by empty, data kept.
                await fixture.LxcOkAsync("storage", "volume", "detach", "default", vol, c);
                Assert.DoesNotContain(" /mnt/vol ", await MountsAsync(c));
                Assert.Empty(await UsedByAsync(vol));
                Assert.Equal("", await fixture.LxcOkAsync("exec", c, "--", "ls", "/mnt/vol"));

                // Hot-plug at another path of the running container (a missing level made as its root).
                await fixture.LxcOkAsync("storage", "volume", "attach", "default", vol, c, "data", "/srv/new/data");
                Assert.Contains(" /srv/new/data ", await MountsAsync(c));
                Assert.Equal("from-inside\n", await fixture.LxcOkAsync("exec", c, "--", "cat", "/srv/new/data/inside"));
                Assert.Equal("0\n", await fixture.LxcOkAsync("exec", c, "--", "stat", "-c", "%u", "/srv/new"));
                Assert.Equal(new[] { $"/1.0/instances/{c}" }, await UsedByAsync(vol));

                // And it is there again after a restart (mounted by the start, not only by the hot-plug).
                await fixture.LxcOkAsync("restart", c);
                Assert.Equal("from-the-host\n", await fixture.LxcOkAsync("exec", c, "--", "cat", "/srv/new/data/seed"));
                await fixture.LxcOkAsync("storage", "volume", "detach", "default", vol, c, "data");
                Assert.DoesNotContain(" /srv/new/data ", await MountsAsync(c));
            }
            await fixture.LxcOkAsync("storage", "volume", "delete", "default", vol);
            Assert.False(Directory.Exists(VolumeDir(vol)));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", c);
            await D.LxcAsync("storage", "volume", "delete", "default", vol);
        }
    }

    [Fact]
    public async Task A_volume_is_not_shared_by_containers_with_different_id_maps()
    {
        const string vol = "hp-shared";
        await fixture.LxcOkAsync("storage", "volume", "create", "default", vol);
        try
        {
            await using var a = await fixture.LaunchAsync("hp-sh-a");
            await using var b = await fixture.LaunchAsync("hp-sh-b", "-c", "security.idmap.isolated=true");
            await fixture.LxcOkAsync("storage", "volume", "attach", "default", vol, a.Name, "/mnt/s");
            var before = (await D.Api.GetAsync($"/1.0/instances/{b.Name}")).Metadata.GetProperty("devices").GetRawText();
            var refused = await D.LxcAsync("storage", "volume", "attach", "default", vol, b.Name, "/mnt/s");
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains($"Idmaps of container \"{a.Name}\" and storage volume \"{vol}\" are not identical", refused.Stderr);
            Assert.Equal(before, (await D.Api.GetAsync($"/1.0/instances/{b.Name}")).Metadata.GetProperty("devices").GetRawText());
            Assert.Equal(new[] { $"/1.0/instances/{a.Name}" }, await UsedByAsync(vol));

            // Once the other container lets it go, the volume follows the isolated container's map.
            await fixture.LxcOkAsync("storage", "volume", "detach", "default", vol, a.Name);
            await fixture.LxcOkAsync("storage", "volume", "attach", "default", vol, b.Name, "/mnt/s");
            await fixture.LxcOkAsync("exec", b.Name, "--", "sh", "-c", "echo b > /mnt/s/f");
            var st = await ProcessRunner.RunAsync("stat", ["-c", "%u", Path.Combine(VolumeDir(vol), "f")]);
            Assert.Equal((await HostRootAsync(b.Name)).ToString(), st.Stdout.Trim());
            Assert.NotEqual(await HostRootAsync(a.Name), await HostRootAsync(b.Name));
            await fixture.LxcOkAsync("storage", "volume", "detach", "default", vol, b.Name);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "hp-sh-a");
            await D.LxcAsync("delete", "--force", "hp-sh-b");
            await D.LxcAsync("storage", "volume", "delete", "default", vol);
        }
    }

    [Fact]
    public async Task A_host_path_disk_is_hotplugged_read_only_and_unplugged()
    {
        var source = Repo.TempDir("hlx-hp-src-");
        try
        {
            File.SetUnixFileMode(source, (UnixFileMode)0b111_101_101);
            await File.WriteAllTextAsync(Path.Combine(source, "f"), "host-data\n");
            await using var c = await fixture.LaunchAsync("hp-host");
            await fixture.LxcOkAsync("config", "device", "add", c.Name, "d", "disk", $"source={source}", "path=/media/d", "readonly=true");
            Assert.Equal("host-data\n", await fixture.LxcOkAsync("exec", c.Name, "--", "cat", "/media/d/f"));
            var write = await D.LxcAsync("exec", c.Name, "--", "sh", "-c", "echo x > /media/d/g");
            Assert.NotEqual(0, write.ExitCode);
            Assert.Contains("Read-only file system", write.Stderr);
            Assert.False(File.Exists(Path.Combine(source, "g")));

            await fixture.LxcOkAsync("config", "device", "remove", c.Name, "d");
            Assert.DoesNotContain(" /media/d ", await MountsAsync(c.Name));
            Assert.True(File.Exists(Path.Combine(source, "f")));

            // Through a profile the running container uses: plugged in and out as LXD does.
            await fixture.LxcOkAsync("profile", "create", "hp-prof");
            try
            {
                await fixture.LxcOkAsync("profile", "add", c.Name, "hp-prof");
                await fixture.LxcOkAsync("profile", "device", "add", "hp-prof", "pd", "disk", $"source={source}", "path=/media/p");
                Assert.Equal("host-data\n", await fixture.LxcOkAsync("exec", c.Name, "--", "cat", "/media/p/f"));
                await fixture.LxcOkAsync("profile", "device", "remove", "hp-prof", "pd");
                Assert.DoesNotContain(" /media/p ", await MountsAsync(c.Name));
                await fixture.LxcOkAsync("profile", "remove", c.Name, "hp-prof");
            }
            finally
            {
                await D.LxcAsync("profile", "remove", c.Name, "hp-prof");
                await D.LxcAsync("profile", "delete", "hp-prof");
            }

                        // An optional disk whose source is missing is skipped (LXD's required=false); a required one is refused and not added.
            await fixture.LxcOkAsync("config", "device", "add", c.Name, "opt", "disk", "source=/nonexistent-hlx", "path=/opt/x", "required=false");
            var bad = await D.LxcAsync("config", "device", "add", c.Name, "req", "disk", "source=/nonexistent-hlx", "path=/opt/y");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("/nonexistent-hlx", bad.Stderr);
            Assert.False((await D.Api.GetAsync($"/1.0/instances/{c.Name}")).Metadata.GetProperty("devices").TryGetProperty("req", out _));
        }
        finally
        {
            Directory.Delete(source, true);
        }
    }

    [Fact]
    public async Task A_unix_char_device_is_hotplugged_with_its_owner_and_mode_and_unplugged()
    {
        await using var c = await fixture.LaunchAsync("hp-char");
        // 10:237 is /dev/loop-control; given by numbers, so the test needs no particular host node.
        await fixture.LxcOkAsync("config", "device", "add", c.Name, "lc", "unix-char", "path=/dev/hlx-lc", "major=10", "minor=237", "uid=5", "gid=6", "mode=0640");
        Assert.Equal("character special file a ed 5 6 640\n", // major and minor in hex
            await fixture.LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%F %t %T %u %g %a", "/dev/hlx-lc"));
        var devicesCgroup = (await File.ReadAllLinesAsync($"/proc/{await fixture.InitPidAsync(c.Name)}/cgroup"))
            .FirstOrDefault(l => l.Split(':')[1].Split(',').Contains("devices"));
        if (devicesCgroup is not null)
        {
            // cgroup v1: the node is allowed in the container's devices.allow while it is plugged.
            var list = Path.Combine("/sys/fs/cgroup/devices", devicesCgroup.Split(':')[2].TrimStart('/'), "devices.list");
            Assert.Contains("c 10:237 rwm", await File.ReadAllLinesAsync(list));
            if (File.Exists("/dev/loop-control"))
            {
                Assert.Equal("opened\n", await fixture.LxcOkAsync("exec", c.Name, "--", "sh", "-c", ": < /dev/hlx-lc && echo opened"));
            }
            // A path distinct from its source (LXD's unix_device_rename, advertised): the host's /dev/null at another name.
            var extensions = (await D.Api.GetAsync("/1.0")).Metadata.GetProperty("api_extensions").EnumerateArray().Select(e => e.GetString());
            Assert.Contains("unix_device_rename", extensions);
            await fixture.LxcOkAsync("config", "device", "add", c.Name, "nul", "unix-char", "source=/dev/null", "path=/dev/hlx-null");
            Assert.Equal("1 3\n", await fixture.LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo x > /dev/hlx-null && stat -c '%t %T' /dev/hlx-null"));

                        // required=false with a missing source: accepted, nothing appears.
            await fixture.LxcOkAsync("config", "device", "add", c.Name, "opt", "unix-char", "source=/dev/hlx-missing", "required=false");
            Assert.NotEqual(0, (await D.LxcAsync("exec", c.Name, "--", "test", "-e", "/dev/hlx-missing")).ExitCode);

            await fixture.LxcOkAsync("config", "device", "remove", c.Name, "lc");
            Assert.NotEqual(0, (await D.LxcAsync("exec", c.Name, "--", "test", "-e", "/dev/hlx-lc")).ExitCode);
            Assert.DoesNotContain("c 10:237 rwm", await File.ReadAllLinesAsync(list));

            // /dev/null's rule is one of the defaults: its unplug leaves the container's own /dev/null usable.
            await fixture.LxcOkAsync("config", "device", "remove", c.Name, "nul");
            await fixture.LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo x > /dev/null");

                        // A required node the host does not have: a 400 naming it, nothing added.
            var bad = await D.LxcAsync("config", "device", "add", c.Name, "req", "unix-char", "source=/dev/hlx-missing");
            Assert.NotEqual(0, bad.ExitCode);
            Assert.Contains("/dev/hlx-missing", bad.Stderr);
        }
        else
        {
            Assert.Fail("expected the cgroup1 backend on this host (cgroup2 refuses unix-char hot-plug with a 400)");
        }
    }

    [Fact]
    public async Task On_cgroup2_a_unix_char_device_works_from_the_start_and_its_hotplug_is_a_400()
    {
        await Hyperlxd.Tests.Images.ImageFixture.EnsureImagesAsync();
        await using var d = await DaemonProcess.StartAsync(daemonEnv: new Dictionary<string, string> { ["HYPERLXD_CGROUP_BACKEND"] = "cgroup2" });
        try
        {
            await d.PrepareContainersAsync(Hyperlxd.Tests.Images.ImageFixture.Busybox);
            async Task<string> Ok(params string[] args)
            {
                var r = await d.LxcAsync(args);
                Assert.True(r.ExitCode == 0, $"lxc {string.Join(' ', args)}: {r}");
                return r.Stdout;
            }
            await Ok("init", "busybox", "v2u");
            await Ok("config", "device", "add", "v2u", "lc", "unix-char", "path=/dev/hlx-lc", "major=10", "minor=237");
            await Ok("start", "v2u");
            Assert.Equal("character special file a ed\n", await Ok("exec", "v2u", "--", "stat", "-c", "%F %t %T", "/dev/hlx-lc"));
            if (File.Exists("/dev/loop-control"))
            {
                // Allowed by the device program the monitor attached at start.
                Assert.Equal("opened\n", await Ok("exec", "v2u", "--", "sh", "-c", ": < /dev/hlx-lc && echo opened"));
            }

            // The program is fixed once the container runs: a new node is refused, said why, and not stored.
            var hot = await d.LxcAsync("config", "device", "add", "v2u", "lc2", "unix-char", "path=/dev/hlx-lc2", "major=10", "minor=237");
            Assert.NotEqual(0, hot.ExitCode);
            Assert.Contains("cannot be hot-plugged with the cgroup2 backend", hot.Stderr);
            Assert.False((await d.Api.GetAsync("/1.0/instances/v2u")).Metadata.GetProperty("devices").TryGetProperty("lc2", out _));
            Assert.NotEqual(0, (await d.LxcAsync("exec", "v2u", "--", "test", "-e", "/dev/hlx-lc2")).ExitCode);

            // Disks need no device rule: their hot-plug works on cgroup2 too.
            await Ok("storage", "volume", "create", "default", "v2vol");
            await Ok("storage", "volume", "attach", "default", "v2vol", "v2u", "/mnt/v");
            await Ok("exec", "v2u", "--", "sh", "-c", "echo ok > /mnt/v/f");
            Assert.Equal("ok\n", await Ok("exec", "v2u", "--", "cat", "/mnt/v/f"));
        }
        finally
        {
            await d.DeleteAllInstancesAsync();
        }
    }

    [Fact]
    public async Task A_root_disk_defined_twice_is_refused_naming_both_sources()
    {
        await fixture.LxcOkAsync("profile", "create", "hp-root2");
        try
        {
            await fixture.LxcOkAsync("profile", "device", "add", "hp-root2", "rootb", "disk", "path=/", "pool=default");
            var launch = await D.LxcAsync("launch", "busybox", "hp-two", "-p", "default", "-p", "hp-root2");
            Assert.NotEqual(0, launch.ExitCode);
            Assert.Contains("More than one root device found: \"root\" from profile \"default\" (pool \"default\") and \"rootb\" from profile \"hp-root2\" (pool \"default\")", launch.Stderr);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/hp-two")).Status);

            await using var c = await fixture.LaunchAsync("hp-one");
            var before = (await D.Api.GetAsync($"/1.0/instances/{c.Name}")).Metadata.GetProperty("devices").GetRawText();
            var add = await D.Api.PatchAsync($"/1.0/instances/{c.Name}", """{"devices":{"disk0":{"type":"disk","path":"/","pool":"default"}}}""");
            Assert.Equal(HttpStatusCode.BadRequest, add.Status);
            Assert.Contains("\"disk0\" from instance \"hp-one\" (pool \"default\") and \"root\" from profile \"default\"", add.Error);
            var profile = await D.LxcAsync("profile", "add", c.Name, "hp-root2");
            Assert.NotEqual(0, profile.ExitCode);
            Assert.Contains("More than one root device found", profile.Stderr);
            var after = await D.Api.GetAsync($"/1.0/instances/{c.Name}");
            Assert.Equal(before, after.Metadata.GetProperty("devices").GetRawText());
            Assert.Equal(new[] { "default" }, after.Metadata.GetProperty("profiles").EnumerateArray().Select(p => p.GetString()));

            // The same name in the instance overrides the profile's root (lxc launch -s): not a second root.
            await fixture.LxcOkAsync("config", "device", "override", c.Name, "root", "size=1GiB");
        }
        finally
        {
            await D.LxcAsync("profile", "delete", "hp-root2");
        }
    }

    [Fact]
    public async Task Pylxd_sees_used_by_keeps_the_volume_map_on_save_and_gets_the_in_use_400()
    {
        await using var c = await fixture.LaunchAsync("hp-py");
        try
        {
            var r = await D.PythonAsync("""
                import warnings, pylxd
                warnings.simplefilter('ignore')
                cl = pylxd.Client()
                pool = cl.storage_pools.get('default')
                v = pool.volumes.create('custom', {'name': 'hp-pyvol'})
                inst = cl.containers.get('hp-py')
                inst.devices['pyvol'] = {'type': 'disk', 'pool': 'default', 'source': 'hp-pyvol', 'path': '/mnt/py'}
                inst.save(wait=True)
                print(inst.execute(['sh', '-c', 'echo ok > /mnt/py/f && cat /mnt/py/f']).stdout.strip())
                v = pool.volumes.get('custom', 'hp-pyvol')
                print(v.used_by)
                last = v.config['volatile.idmap.last']
                v.config['user.note'] = 'kept'
                v.save()
                v = pool.volumes.get('custom', 'hp-pyvol')
                print(v.config['user.note'], v.config['volatile.idmap.last'] == last)
                try:
                    v.delete()
                except pylxd.exceptions.LXDAPIException as e:
                    print('refused', e.response.status_code, 'still in use' in str(e))
                del inst.devices['pyvol']
                inst.save(wait=True)
                print(pool.volumes.get('custom', 'hp-pyvol').used_by)
                pool.volumes.get('custom', 'hp-pyvol').delete()
                print([x.name for x in pool.volumes.all() if x.name == 'hp-pyvol'])
                """);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Equal("ok\n['/1.0/instances/hp-py']\nkept True\nrefused 400 True\n[]\n[]", r.Stdout.Trim());
        }
        finally
        {
            await D.LxcAsync("config", "device", "remove", "hp-py", "pyvol");
            await D.Api.DeleteAsync("/1.0/storage-pools/default/volumes/custom/hp-pyvol");
        }
    }
}
