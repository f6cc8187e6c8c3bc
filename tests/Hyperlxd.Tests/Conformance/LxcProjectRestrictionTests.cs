using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: the project keys LXD 5.0.2 enforces beyond restricted.* defaults, through the stock lxc client:
/// restricted.devices.disk.paths (no escape by "..", a symlink or a name sharing the prefix),
/// restricted.idmap.uid/gid against raw.idmap, restricted.networks.access for nics, profiles and network
/// creation, restricted.networks.subnets validation, and features.networks (a project's own network names:
/// the default project's lxdbr0 neither visible nor usable, bridges refused, limits.networks). Each shown
/// refusing and allowing. Uses the network daemon (lxdbr0 from init --auto).
/// </summary>
[Collection(NetworkDaemonCollection.Name)]
public sealed class LxcProjectRestrictionTests(NetworkDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private Task<string> LxcFailsAsync(params string[] args) => D.LxcFailsAsync(args);

    /// <summary>A restricted-capable project using the default project's images, with a root disk in its own default profile.</summary>
    private async Task CreateProjectAsync(string name, params string[] config)
    {
        var args = new List<string> { "project", "create", name, "-c", "features.images=false" };
        foreach (var c in config)
        {
            args.AddRange(["-c", c]);
        }
        await LxcOkAsync([.. args]);
        await LxcOkAsync("profile", "device", "add", "default", "root", "disk", "path=/", "pool=default", "--project", name);
    }

    private async Task DeleteProjectAsync(string name, params string[] instances)
    {
        foreach (var i in instances)
        {
            await D.LxcAsync("delete", "--force", i, "--project", name);
        }
        await D.LxcAsync("profile", "device", "remove", "default", "eth0", "--project", name);
        await D.LxcAsync("project", "delete", name);
    }

    private async Task AssertNothingStagedAsync()
    {
        var pinned = Path.Combine(D.Dir, "pinned");
        Assert.DoesNotContain(pinned, await File.ReadAllTextAsync($"/proc/{D.Pid}/mountinfo"));
        Assert.Empty(Directory.Exists(pinned) ? Directory.GetFileSystemEntries(pinned) : []);
    }

    [Fact]
    public async Task Host_disks_stay_under_restricted_devices_disk_paths_and_raw_idmap_within_restricted_idmap()
    {
        var tmp = Repo.TempDir("hlx-restrict-");
        File.SetUnixFileMode(tmp, (UnixFileMode)0b111_101_101);
        var allowed = Directory.CreateDirectory(Path.Combine(tmp, "allowed", "sub")).Parent!.FullName;
        var other = Directory.CreateDirectory(Path.Combine(tmp, "other")).FullName;
        Directory.CreateDirectory(Path.Combine(tmp, "allowed-evil"));
        File.CreateSymbolicLink(Path.Combine(allowed, "escape"), other);
        // A relative link that stays inside: at start the source is opened beneath the prefix (openat2 RESOLVE_BENEATH,
        // as LXD), which follows no absolute link and none leading out.
        File.CreateSymbolicLink(Path.Combine(allowed, "inside"), "sub");
        File.CreateSymbolicLink(Path.Combine(allowed, "abs"), Path.Combine(allowed, "sub"));
        await File.WriteAllTextAsync(Path.Combine(allowed, "sub", "f"), "allowed-content\n");
        try
        {
            // Values are validated as LXD validates them.
            Assert.Contains("Must be absolute file path", await LxcFailsAsync("project", "create", "pbad", "-c", "restricted.devices.disk.paths=relative/dir"));
            Assert.Contains("restricted.idmap.uid", await LxcFailsAsync("project", "create", "pbad", "-c", "restricted.idmap.uid=2000-1000"));

            await CreateProjectAsync("pdisk", "restricted=true", "restricted.devices.disk=allow", $"restricted.devices.disk.paths={allowed}");
            await LxcOkAsync("init", "busybox", "d1", "--project", "pdisk");

            // Outside the prefix, by "..", through a symlink, or a sibling sharing the prefix's text: 403s naming the key and device.
            foreach (var source in new[] { other, $"{allowed}/../other", Path.Combine(allowed, "escape"), Path.Combine(tmp, "allowed-evil") })
            {
                var refused = await LxcFailsAsync("config", "device", "add", "d1", "hostdir", "disk", $"source={source}", "path=/mnt", "--project", "pdisk");
                Assert.Contains("restricted.devices.disk.paths", refused);
                Assert.Contains("\"hostdir\"", refused);
            }
            Assert.Contains("resolves outside", await LxcFailsAsync("config", "device", "add", "d1", "hostdir", "disk", $"source={Path.Combine(allowed, "escape")}", "path=/mnt", "--project", "pdisk"));
            Assert.Contains("shift", await LxcFailsAsync("config", "device", "add", "d1", "hostdir", "disk", $"source={allowed}/sub", "path=/mnt", "shift=true", "--project", "pdisk"));
            Assert.DoesNotContain("hostdir", await LxcOkAsync("config", "device", "list", "d1", "--project", "pdisk"));

            // A profile of the project is held to the same rule (LXD's AllowProfileUpdate).
            var profileRefused = await LxcFailsAsync("profile", "device", "add", "default", "hostdir", "disk", $"source={other}", "path=/srv", "--project", "pdisk");
            Assert.Contains("restricted.devices.disk.paths", profileRefused);
            Assert.Contains("profile \"default\"", profileRefused);
            await LxcOkAsync("profile", "device", "add", "default", "hostdir", "disk", $"source={allowed}/sub", "path=/srv", "--project", "pdisk");
            await LxcOkAsync("profile", "device", "remove", "default", "hostdir", "--project", "pdisk");

            // Inside (also through a symlink that stays inside): added, and mounted at start.
            await LxcOkAsync("config", "device", "add", "d1", "hostdir", "disk", $"source={allowed}/inside", "path=/mnt", "--project", "pdisk");
            await LxcOkAsync("start", "d1", "--project", "pdisk");
            Assert.Equal("allowed-content\n", await LxcOkAsync("exec", "d1", "--project", "pdisk", "--", "cat", "/mnt/f"));
            // The source was pinned (bind-mounted from the opened fd onto a root-only staging path) only until the
            // container held its own mount: nothing is left staged in the daemon's mount namespace.
            await AssertNothingStagedAsync();
            // Hot-plugged the same way.
            await LxcOkAsync("config", "device", "add", "d1", "hostdir2", "disk", $"source={allowed}/sub", "path=/mnt2", "--project", "pdisk");
            Assert.Equal("allowed-content\n", await LxcOkAsync("exec", "d1", "--project", "pdisk", "--", "cat", "/mnt2/f"));
            await AssertNothingStagedAsync();
            await LxcOkAsync("config", "device", "remove", "d1", "hostdir2", "--project", "pdisk");
            // An absolute link, even one naming a place inside: its text passes the check, but the mount opens the
            // source beneath the prefix, which follows no absolute link (LXD's RESOLVE_BENEATH): refused, nothing added.
            var absolute = await LxcFailsAsync("config", "device", "add", "d1", "hostabs", "disk", $"source={allowed}/abs", "path=/mnt3", "--project", "pdisk");
            Assert.Contains("resolves outside", absolute);
            Assert.DoesNotContain("hostabs", await LxcOkAsync("config", "device", "list", "d1", "--project", "pdisk"));
            await AssertNothingStagedAsync();

            // The link swapped to lead outside while the disk stays configured: the next start is refused (LXD resolves at start too).
            await LxcOkAsync("stop", "d1", "--force", "--project", "pdisk");
            File.Delete(Path.Combine(allowed, "inside"));
            File.CreateSymbolicLink(Path.Combine(allowed, "inside"), other);
            var startRefused = await LxcFailsAsync("start", "d1", "--project", "pdisk");
            Assert.Contains("resolves outside", startRefused);
            Assert.Contains("\"hostdir\"", startRefused);
            Assert.Contains("STOPPED", await LxcOkAsync("list", "d1", "--project", "pdisk", "-c", "s", "--format", "csv"));
            File.Delete(Path.Combine(allowed, "inside"));
            File.CreateSymbolicLink(Path.Combine(allowed, "inside"), "sub");

            // raw.idmap with low-level keys blocked: host ids only within restricted.idmap.uid/gid.
            await LxcOkAsync("init", "busybox", "d2", "--project", "pdisk");
            var noRanges = await LxcFailsAsync("config", "set", "d2", "raw.idmap", "both 1000 1000", "--project", "pdisk");
            Assert.Contains("raw.idmap", noRanges);
            Assert.Contains("restricted.idmap.uid", noRanges);
            await LxcOkAsync("project", "set", "pdisk", "restricted.idmap.uid=1000-1999");
            await LxcOkAsync("project", "set", "pdisk", "restricted.idmap.gid=1000");
            await LxcOkAsync("config", "set", "d2", "raw.idmap", "both 1000 1000", "--project", "pdisk");
            Assert.Contains("restricted.idmap.gid", await LxcFailsAsync("config", "set", "d2", "raw.idmap", "gid 1001 1001", "--project", "pdisk"));
            Assert.Contains("restricted.idmap.uid", await LxcFailsAsync("config", "set", "d2", "raw.idmap", "uid 1990-2000 1990-2000", "--project", "pdisk"));
            await LxcOkAsync("config", "set", "d2", "raw.idmap", "uid 1100-1199 1100-1199", "--project", "pdisk");
            Assert.Equal("uid 1100-1199 1100-1199", (await LxcOkAsync("config", "get", "d2", "raw.idmap", "--project", "pdisk")).Trim());

            // restricted.containers.lowlevel=allow lifts the ranges, as in LXD; blocking it again conflicts with what d2 holds.
            await LxcOkAsync("project", "set", "pdisk", "restricted.containers.lowlevel=allow");
            await LxcOkAsync("config", "set", "d2", "raw.idmap", "uid 5000 5000", "--project", "pdisk");
            var conflict = await LxcFailsAsync("project", "set", "pdisk", "restricted.containers.lowlevel=block");
            Assert.Contains("Conflict detected when changing \"restricted.containers.lowlevel\"", conflict);
            Assert.Contains("\"d2\"", conflict);
            Assert.Contains("allow", await LxcOkAsync("project", "get", "pdisk", "restricted.containers.lowlevel"));
        }
        finally
        {
            await DeleteProjectAsync("pdisk", "d1", "d2");
            await D.LxcAsync("project", "delete", "pbad");
            Directory.Delete(tmp, true);
        }
    }

    [Fact]
    public async Task Nics_profiles_and_new_networks_are_limited_to_restricted_networks_access()
    {
        try
        {
            await fixture.CreateNetworkAsync("hn-racc", "10.201.140.1/24");
            await CreateProjectAsync("pnet", "restricted=true", "restricted.networks.access=hn-racc");
            await LxcOkAsync("init", "busybox", "n1", "--project", "pnet");

            // lxdbr0 is not in the list: a nic on it is refused (403 naming the key and device), on hn-racc accepted.
            var refused = await LxcFailsAsync("config", "device", "add", "n1", "eth0", "nic", "network=lxdbr0", "--project", "pnet");
            Assert.Contains("restricted.networks.access", refused);
            Assert.Contains("\"eth0\"", refused);
            await LxcOkAsync("config", "device", "add", "n1", "eth0", "nic", "network=hn-racc", "name=eth0", "--project", "pnet");
            Assert.Contains("restricted.networks.access", await LxcFailsAsync("profile", "device", "add", "default", "eth0", "nic", "network=lxdbr0", "--project", "pnet"));
            await LxcOkAsync("profile", "device", "add", "default", "eth0", "nic", "network=hn-racc", "name=eth0", "--project", "pnet");
            var api = await D.Api.PostAsync("/1.0/instances?project=pnet",
                """{"name": "n2", "source": {"type": "image", "alias": "busybox"}, "devices": {"eth1": {"type": "nic", "network": "lxdbr0", "name": "eth1"}}}""");
            Assert.Equal(HttpStatusCode.Forbidden, api.Status);

            // It sees only the networks it may use; lxdbr0 is a 404 from it, and it may not create others.
            var list = await LxcOkAsync("network", "list", "--project", "pnet", "--format", "csv");
            Assert.Contains(list.Split('\n'), l => l.StartsWith("hn-racc,bridge,YES,", StringComparison.Ordinal));
            Assert.DoesNotContain("lxdbr0", list);
            Assert.Contains("not found", await LxcFailsAsync("network", "show", "lxdbr0", "--project", "pnet"), StringComparison.OrdinalIgnoreCase);
            Assert.Contains("hn-racc", await LxcOkAsync("network", "show", "hn-racc", "--project", "pnet"));
            var create = await D.Api.PostAsync("/1.0/networks?project=pnet", """{"name": "hn-rx", "config": {"ipv4.address": "10.201.141.1/24", "ipv6.address": "none"}}""");
            Assert.Equal(HttpStatusCode.Forbidden, create.Status);
            Assert.Contains("Network not allowed in project", create.Error);

            // used_by names the project's users with ?project=, as LXD.
            var usedBy = (await D.Api.GetAsync("/1.0/networks/hn-racc")).Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("/1.0/instances/n1?project=pnet", usedBy);
            Assert.Contains("/1.0/profiles/default?project=pnet", usedBy);

            // Blocking nics now conflicts with n1's; uplinks and zones are lists; subnets name an uplink and a subnet in its routes.
            Assert.Contains("Conflict detected", await LxcFailsAsync("project", "set", "pnet", "restricted.devices.nic=block"));
            await LxcOkAsync("project", "set", "pnet", "restricted.networks.uplinks=hn-racc");
            await LxcOkAsync("project", "set", "pnet", "restricted.networks.zones=zone1,zone2");
            Assert.Contains("<uplink network>:<subnet>", await LxcFailsAsync("project", "set", "pnet", "restricted.networks.subnets=10.0.0.0/24"));
            Assert.Contains("Not an IP network address", await LxcFailsAsync("project", "set", "pnet", "restricted.networks.subnets=hn-racc:10.0.0.1/24"));
            Assert.Contains("Invalid uplink network \"nonet\"", await LxcFailsAsync("project", "set", "pnet", "restricted.networks.subnets=nonet:10.0.0.0/24"));
            Assert.Contains("doesn't contain", await LxcFailsAsync("project", "set", "pnet", "restricted.networks.subnets=hn-racc:10.0.0.0/24"));
            Assert.DoesNotContain("subnets", await LxcOkAsync("project", "show", "pnet"));

            // restricted.devices.nic=allow: an unmanaged nic's parent link must be listed too.
            await LxcOkAsync("project", "set", "pnet", "restricted.devices.nic=allow");
            Assert.Contains("restricted.networks.access", await LxcFailsAsync("config", "device", "add", "n1", "ethp", "nic", "nictype=bridged", "parent=lxdbr0", "--project", "pnet"));
            await LxcOkAsync("config", "device", "add", "n1", "ethp", "nic", "nictype=bridged", "parent=hn-racc", "--project", "pnet");

            // Unrestricted again, lxdbr0 is usable from the project (it shares the default project's networks).
            await LxcOkAsync("project", "set", "pnet", "restricted=false");
            await LxcOkAsync("config", "device", "add", "n1", "eth1", "nic", "network=lxdbr0", "name=eth1", "--project", "pnet");
            Assert.Contains("lxdbr0", await LxcOkAsync("network", "list", "--project", "pnet", "--format", "csv"));
        }
        finally
        {
            await DeleteProjectAsync("pnet", "n1", "n2");
            await D.LxcAsync("network", "delete", "hn-racc");
        }
    }

    [Fact]
    public async Task A_project_with_features_networks_has_its_own_network_names()
    {
        try
        {
            var extensions = (await D.Api.GetAsync("/1.0")).Metadata.GetProperty("api_extensions").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("projects_networks", extensions);
            Assert.Contains("projects_networks_restricted_access", extensions);
            Assert.Contains("projects_networks_restricted_uplinks", extensions);
            await CreateProjectAsync("pown", "features.networks=true", "limits.networks=0");
            await CreateProjectAsync("pshared");

            // Nothing of the default project's is visible from it.
            Assert.Equal("", (await LxcOkAsync("network", "list", "--project", "pown", "--format", "csv")).Trim());
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/networks/lxdbr0?project=pown")).Status);
            Assert.Contains("not found", await LxcFailsAsync("network", "show", "lxdbr0", "--project", "pown"), StringComparison.OrdinalIgnoreCase);

            // Only OVN networks may live in such a project (LXD): a bridge is refused, the default type (OVN) meets limits.networks first.
            Assert.Contains("Network type does not support non-default projects", await LxcFailsAsync("network", "create", "hn-own", "--type=bridge", "--project", "pown"));
            Assert.Contains("Networks limit has been reached for project", await LxcFailsAsync("network", "create", "hn-own", "--project", "pown"));
            await LxcOkAsync("project", "set", "pown", "limits.networks=1");
            Assert.Contains("ovn", await LxcFailsAsync("network", "create", "hn-own", "--project", "pown"), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/networks/hn-own")).Status);

            // A nic naming lxdbr0 names a network the project does not have; the instance itself is fine.
            await LxcOkAsync("init", "busybox", "o1", "--project", "pown");
            var refused = await LxcFailsAsync("config", "device", "add", "o1", "eth0", "nic", "network=lxdbr0", "--project", "pown");
            Assert.Contains("Failed to load network \"lxdbr0\" for project \"pown\"", refused);
            Assert.Contains("Failed to load network \"lxdbr0\"", await LxcFailsAsync("profile", "device", "add", "default", "eth0", "nic", "network=lxdbr0", "--project", "pown"));

            // features.networks=false (the default): the project uses the default project's lxdbr0.
            Assert.Contains((await LxcOkAsync("network", "list", "--project", "pshared", "--format", "csv")).Split('\n'), l => l.StartsWith("lxdbr0,bridge,YES,", StringComparison.Ordinal));
            await LxcOkAsync("init", "busybox", "s1", "--project", "pshared");
            await LxcOkAsync("config", "device", "add", "s1", "eth0", "nic", "network=lxdbr0", "name=eth0", "--project", "pshared");
            var usedBy = (await D.Api.GetAsync("/1.0/networks/lxdbr0")).Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.Contains("/1.0/instances/s1?project=pshared", usedBy);
            Assert.DoesNotContain(usedBy, u => u!.Contains("pown", StringComparison.Ordinal));
        }
        finally
        {
            await DeleteProjectAsync("pown", "o1");
            await DeleteProjectAsync("pshared", "s1");
        }
    }

    [Fact]
    public async Task A_profile_change_is_held_to_the_limits_of_the_instances_using_it()
    {
        try
        {
            await CreateProjectAsync("plim", "limits.memory=256MiB");
            await LxcOkAsync("profile", "set", "default", "limits.memory=100MiB", "--project", "plim");
            await LxcOkAsync("init", "busybox", "m1", "--project", "plim");
            await LxcOkAsync("init", "busybox", "m2", "--project", "plim");

            // Two instances take the profile's memory: 2 x 200MiB would pass the project's 256MiB (LXD's AllowProfileUpdate).
            var refused = await LxcFailsAsync("profile", "set", "default", "limits.memory=200MiB", "--project", "plim");
            Assert.Contains("Reached maximum aggregate value \"256MiB\" for \"limits.memory\"", refused);
            Assert.Equal("100MiB", (await LxcOkAsync("profile", "get", "default", "limits.memory", "--project", "plim")).Trim());
            await LxcOkAsync("profile", "set", "default", "limits.memory=120MiB", "--project", "plim");
            Assert.Equal("120MiB", (await LxcOkAsync("config", "get", "m1", "limits.memory", "--expanded", "--project", "plim")).Trim());
        }
        finally
        {
            await DeleteProjectAsync("plim", "m1", "m2");
        }
    }
}
