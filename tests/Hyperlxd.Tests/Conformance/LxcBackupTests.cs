using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>The stock lxc 5.0.2 client on instance backups: lxc export / lxc import, the backups API, and hostile tarballs.</summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcBackupTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private string NewDir()
    {
        var dir = Path.Combine(D.Dir, "test-backups-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private async Task<string> CatAsync(string name, string path) => (await LxcOkAsync("exec", name, "--", "cat", path)).Trim();

    private async Task AssertGoneAsync(string name) =>
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/" + name)).Status);

    /// <summary>No upload or work file is left in the backups directory once a request is over.</summary>
    private void AssertNoUploadLeftovers()
    {
        var dir = Path.Combine(D.Dir, "backups");
        var left = Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir).Where(p => Path.GetFileName(p).StartsWith('.')).ToList() : new();
        Assert.True(left.Count == 0, "left behind: " + string.Join(", ", left));
    }

    [Fact]
    public async Task Export_delete_import_gives_back_data_config_and_snapshots()
    {
        var dir = NewDir();
        var file = Path.Combine(dir, "bk1.tar.gz");
        try
        {
            await LxcOkAsync("launch", "busybox", "bk1", "-c", "user.tag=kept");
            await LxcOkAsync("exec", "bk1", "--", "sh", "-c", "echo v1 > /root/data && ln /root/data /root/hard && chown 1000:1000 /root/data");
            await LxcOkAsync("snapshot", "bk1", "snap0");
            await LxcOkAsync("exec", "bk1", "--", "sh", "-c", "echo v2 > /root/data");
            await LxcOkAsync("stop", "bk1", "--force");

            Assert.Contains("Backup exported successfully", await LxcOkAsync("export", "bk1", file));
            // LXD's layout: the index, the snapshot and the volume; and lxc export deleted its backup afterwards.
            var names = ReadNames(file);
            Assert.Equal("backup/index.yaml", names[0]);
            Assert.Contains("backup/container/rootfs/root/data", names);
            Assert.Contains("backup/container/metadata.yaml", names);
            Assert.Contains("backup/snapshots/snap0/rootfs/root/data", names);
            var index = ReadText(file, "backup/index.yaml");
            Assert.Contains("name: bk1", index);
            Assert.Contains("- snap0", index);
            Assert.Contains("user.tag: kept", index);
            // The two names of one file: one is the file with the image's ids (not the host's), the other a hard link to it.
            var pair = new[] { ReadEntry(file, "backup/container/rootfs/root/data"), ReadEntry(file, "backup/container/rootfs/root/hard") };
            var regular = Assert.Single(pair, e => e.EntryType == TarEntryType.RegularFile);
            Assert.Equal((1000, 1000), (regular.Uid, regular.Gid));
            Assert.Single(pair, e => e.EntryType == TarEntryType.HardLink);
            Assert.Equal("[]", (await D.Api.GetAsync("/1.0/instances/bk1/backups")).Metadata.ToString().Replace(" ", ""));

            await LxcOkAsync("delete", "bk1");
            await LxcOkAsync("import", file);
            Assert.Contains("snap0", await LxcOkAsync("info", "bk1"));
            Assert.Equal("kept", (await LxcOkAsync("config", "get", "bk1", "user.tag")).Trim());
            await LxcOkAsync("start", "bk1");
            Assert.Equal("v2", await CatAsync("bk1", "/root/data"));
            Assert.Equal("1000 1000", (await LxcOkAsync("exec", "bk1", "--", "stat", "-c", "%u %g", "/root/data")).Trim());
            await LxcOkAsync("restore", "bk1", "snap0");
            Assert.Equal("v1", await CatAsync("bk1", "/root/data"));

            // Under a new name while the original exists; the same name again is a conflict.
            await LxcOkAsync("import", file, "bk1-copy");
            await LxcOkAsync("start", "bk1-copy");
            Assert.Equal("v2", await CatAsync("bk1-copy", "/root/data"));
            var taken = await D.LxcAsync("import", file);
            Assert.NotEqual(0, taken.ExitCode);
            Assert.Contains("already exists", taken.Stderr);
            // "p_c1" is how another project's instance is stored: a client's name never is one.
            var keyLike = await D.LxcAsync("import", file, "p_c1");
            Assert.NotEqual(0, keyLike.ExitCode);
            Assert.Contains("Invalid instance name", keyLike.Stderr);
            AssertNoUploadLeftovers();

            // --instance-only leaves the snapshots out.
            await LxcOkAsync("export", "bk1", Path.Combine(dir, "only.tar.gz"), "--instance-only");
            Assert.DoesNotContain(ReadNames(Path.Combine(dir, "only.tar.gz")), n => n.StartsWith("backup/snapshots/", StringComparison.Ordinal));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "bk1");
            await D.LxcAsync("delete", "--force", "bk1-copy");
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Import_onto_a_btrfs_pool_and_back_with_each_compression()
    {
        var dir = NewDir();
        try
        {
            await LxcOkAsync("storage", "create", "bk-btrfs", "btrfs", "size=1GiB");
            await LxcOkAsync("launch", "busybox", "bk2");
            await LxcOkAsync("exec", "bk2", "--", "sh", "-c", "echo pooled > /root/data");
            await LxcOkAsync("snapshot", "bk2", "s1");
            await LxcOkAsync("stop", "bk2", "--force");
            foreach (var algorithm in new[] { "none", "gzip", "xz", "zstd", "bzip2" })
            {
                var file = Path.Combine(dir, $"bk2-{algorithm}.tar");
                await LxcOkAsync("export", "bk2", file, "--compression", algorithm);
                await LxcOkAsync("import", file, $"bk2-{algorithm}", "-s", "bk-btrfs");
                Assert.Contains("pool: bk-btrfs", await LxcOkAsync("config", "show", $"bk2-{algorithm}"));
                Assert.True(Directory.Exists(Path.Combine(D.Dir, "storage-pools", "bk-btrfs", "containers-snapshots", $"bk2-{algorithm}", "s1")));
                await LxcOkAsync("start", $"bk2-{algorithm}");
                Assert.Equal("pooled", await CatAsync($"bk2-{algorithm}", "/root/data"));
                await LxcOkAsync("delete", "--force", $"bk2-{algorithm}");
            }
            // From btrfs to dir: the portable format moves between drivers (optimized ones: LxcOptimizedBackupTests).
            await LxcOkAsync("import", Path.Combine(dir, "bk2-gzip.tar"), "bk2-b", "-s", "bk-btrfs");
            await LxcOkAsync("export", "bk2-b", Path.Combine(dir, "portable.tar.gz"));
            await LxcOkAsync("import", Path.Combine(dir, "portable.tar.gz"), "bk2-back", "-s", "default");
            await LxcOkAsync("start", "bk2-back");
            Assert.Equal("pooled", await CatAsync("bk2-back", "/root/data"));
            var missing = await D.LxcAsync("import", Path.Combine(dir, "bk2-gzip.tar"), "bk2-x", "-s", "no-such-pool");
            Assert.NotEqual(0, missing.ExitCode);
            Assert.Contains("Storage pool \"no-such-pool\" not found", missing.Stderr);
            await AssertGoneAsync("bk2-x");
        }
        finally
        {
            foreach (var n in new[] { "bk2", "bk2-b", "bk2-back", "bk2-none", "bk2-gzip", "bk2-xz", "bk2-zstd", "bk2-bzip2" })
            {
                await D.LxcAsync("delete", "--force", n);
            }
            await D.LxcAsync("storage", "delete", "bk-btrfs");
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Backups_api_create_list_rename_export_delete_and_expiry()
    {
        try
        {
            await LxcOkAsync("launch", "busybox", "bk3");
            await LxcOkAsync("stop", "--force", "bk3");
            await WaitAsync(await D.Api.PostAsync("/1.0/instances/bk3/backups", """{"name": "first", "compression_algorithm": "zstd"}"""));
            await WaitAsync(await D.Api.PostAsync("/1.0/instances/bk3/backups", "{}"));
            var list = await D.Api.GetAsync("/1.0/instances/bk3/backups?recursion=1");
            var names = list.Metadata.EnumerateArray().Select(b => b.GetProperty("name").GetString()).ToList();
            Assert.Equal(new[] { "first", "backup0" }, names);
            Assert.True(File.Exists(Path.Combine(D.Dir, "backups", "instances", "bk3", "first")));

            var bad = await D.Api.PostAsync("/1.0/instances/bk3/backups", """{"compression_algorithm": "lz4"}""");
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.Status);
            Assert.Contains("compression_algorithm", bad.Error);

            await WaitAsync(await D.Api.PostAsync("/1.0/instances/bk3/backups/first", """{"name": "renamed"}"""));
            Assert.Equal("renamed", (await D.Api.GetAsync("/1.0/instances/bk3/backups/renamed")).Metadata.GetProperty("name").GetString());
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/bk3/backups/first")).Status);
            using (var export = await D.Api.RawAsync("/1.0/instances/bk3/backups/renamed/export"))
            {
                var bytes = await export.Content.ReadAsByteArrayAsync();
                Assert.Equal(new byte[] { 0x28, 0xb5, 0x2f, 0xfd }, bytes[..4]); // zstd
            }
            await WaitAsync(await D.Api.DeleteAsync("/1.0/instances/bk3/backups/renamed"));
            Assert.False(File.Exists(Path.Combine(D.Dir, "backups", "instances", "bk3", "renamed")));

            // Expiry: a backup past its expires_at is pruned, never listed.
            await WaitAsync(await D.Api.PostAsync("/1.0/instances/bk3/backups", """{"name": "old", "expires_at": "2001-01-01T00:00:00Z"}"""));
            var after = await D.Api.GetAsync("/1.0/instances/bk3/backups");
            Assert.DoesNotContain(after.Metadata.EnumerateArray(), u => u.GetString()!.EndsWith("/old", StringComparison.Ordinal));
            Assert.False(File.Exists(Path.Combine(D.Dir, "backups", "instances", "bk3", "old")));

            // Renamed with the instance, deleted with it.
            await LxcOkAsync("move", "bk3", "bk3-moved");
            Assert.True(File.Exists(Path.Combine(D.Dir, "backups", "instances", "bk3-moved", "backup0")));
            Assert.Equal(System.Net.HttpStatusCode.OK, (await D.Api.GetAsync("/1.0/instances/bk3-moved/backups/backup0")).Status);
            await LxcOkAsync("delete", "bk3-moved");
            Assert.False(Directory.Exists(Path.Combine(D.Dir, "backups", "instances", "bk3-moved")));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "bk3");
            await D.LxcAsync("delete", "--force", "bk3-moved");
        }
    }

    private static async Task<string> HostOkAsync(string file, params string[] args)
    {
        var r = await ProcessRunner.RunAsync(file, args);
        Assert.True(r.ExitCode == 0, $"{file} {string.Join(' ', args)}: {r.Stderr}");
        return r.Stdout;
    }

    private string RootfsOf(string name, string path) => Path.Combine(D.Dir, "storage-pools", "default", "containers", name, "rootfs") + path;

    [Fact]
    public async Task Export_import_keeps_user_xattrs_and_file_capabilities_and_drops_the_rest()
    {
        var dir = NewDir();
        var file = Path.Combine(dir, "bx1.tar.gz");
        try
        {
            await LxcOkAsync("launch", "busybox", "bx1");
            await LxcOkAsync("exec", "bx1", "--", "sh", "-c", "echo capped > /root/ping && mkdir /root/d");
            await LxcOkAsync("stop", "bx1", "--force");
            await HostOkAsync("setfattr", "-n", "user.note", "-v", "kept", RootfsOf("bx1", "/root/ping"));
            await HostOkAsync("setfattr", "-n", "user.dir", "-v", "also", RootfsOf("bx1", "/root/d"));
            await HostOkAsync("setcap", "cap_net_raw+ep", RootfsOf("bx1", "/root/ping"));
            await LxcOkAsync("export", "bx1", file);
            Assert.Equal("kept", ReadEntry(file, "backup/container/rootfs/root/ping") is PaxTarEntry p ? p.ExtendedAttributes.GetValueOrDefault("SCHILY.xattr.user.note") : null);
            await LxcOkAsync("delete", "bx1");

            await LxcOkAsync("import", file, "bx1-back");
            Assert.Contains("user.note=\"kept\"", await HostOkAsync("getfattr", "-n", "user.note", RootfsOf("bx1-back", "/root/ping")));
            Assert.Contains("user.dir=\"also\"", await HostOkAsync("getfattr", "-n", "user.dir", RootfsOf("bx1-back", "/root/d")));
            Assert.Contains("cap_net_raw=ep", await HostOkAsync("getcap", RootfsOf("bx1-back", "/root/ping")));
            await LxcOkAsync("start", "bx1-back");
            Assert.Equal("capped", await CatAsync("bx1-back", "/root/ping"));

            // A tarball may carry anything: trusted.* and security labels are not applied, nor a v3 capability
            // naming another namespace's root; a v3 one for root 0 becomes the equivalent v2 set.
            var hostile = Path.Combine(dir, "xattrs.tar.gz");
            await using (var fs = File.Create(hostile))
            await using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
            await using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
            {
                AddFile(tar, "backup/index.yaml", Index);
                AddDir(tar, "backup/container");
                AddDir(tar, "backup/container/rootfs");
                AddXattrFile(tar, "backup/container/rootfs/a", ("trusted.evil", "x"), ("security.selinux", "system_u:object_r:shadow_t:s0"), ("user.ok", "yes"));
                AddXattrFile(tar, "backup/container/rootfs/b", ("security.capability", Caps(3, rootid: 0x01010101)));
                AddXattrFile(tar, "backup/container/rootfs/c", ("security.capability", Caps(3, rootid: 0)));
            }
            await LxcOkAsync("import", hostile);
            var a = await HostOkAsync("getfattr", "-d", "-m", "-", RootfsOf("evil", "/a"));
            Assert.Contains("user.ok=\"yes\"", a);
            Assert.DoesNotContain("trusted.evil", a);
            Assert.DoesNotContain("shadow_t", a);
            Assert.DoesNotContain("cap_", await HostOkAsync("getcap", RootfsOf("evil", "/b")));
            Assert.Contains("cap_net_raw=ep", await HostOkAsync("getcap", RootfsOf("evil", "/c")));
        }
        finally
        {
            foreach (var n in new[] { "bx1", "bx1-back", "evil" })
            {
                await D.LxcAsync("delete", "--force", n);
            }
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// backup/index.yaml as LXD 5.0.2 writes it (backup.Info with the embedded config.Config of yaml.v2: the
    /// instance, its snapshots, the pool, the volume; nanosecond times, quoted numbers, volatile keys of its host).
    /// </summary>
    private const string LxdIndex = """
        name: lxdmade
        backend: dir
        pool: default
        snapshots:
        - snap0
        optimized: false
        optimized_header: false
        type: container
        config:
          container:
            architecture: x86_64
            config:
              image.os: busybox
              user.origin: lxd
              volatile.base_image: 9f2a1c0e5d5b0f7c3a54c2e2d6b2d1c6e4e0a7b1d9c8f7e6d5c4b3a2918f7e6d
              volatile.cloud-init.instance-id: 2b7c7c43-6e2b-4c6e-9d0e-4b7c2f9d8a11
              volatile.eth0.hwaddr: 00:16:3e:12:34:56
              volatile.idmap.base: "0"
              volatile.idmap.current: '[{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,"Maprange":1000000000}]'
              volatile.idmap.next: '[{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,"Maprange":1000000000}]'
              volatile.last_state.idmap: '[]'
              volatile.last_state.power: STOPPED
              volatile.uuid: 7d0f7f7e-8b0c-4c55-8f43-0d7b7d0b2f9a
            devices: {}
            ephemeral: false
            profiles:
            - default
            stateful: false
            description: made by LXD
            created_at: 2023-03-01T10:11:12.123456789Z
            expanded_config:
              image.os: busybox
              user.origin: lxd
            expanded_devices:
              root:
                path: /
                pool: default
                type: disk
            name: lxdmade
            status: Stopped
            status_code: 102
            last_used_at: 2023-03-01T10:20:00.987654321Z
            location: none
            type: container
            project: default
          snapshots:
          - architecture: x86_64
            config:
              user.origin: lxd-snap
              volatile.uuid: 0a1b2c3d-0000-4000-8000-000000000001
            created_at: 2023-03-01T10:15:00.5Z
            devices: {}
            ephemeral: false
            expanded_config:
              user.origin: lxd-snap
            expanded_devices:
              root:
                path: /
                pool: default
                type: disk
            last_used_at: 0001-01-01T00:00:00Z
            name: snap0
            profiles:
            - default
            stateful: false
            size: -1
            expires_at: 0001-01-01T00:00:00Z
          pool:
            config:
              source: /var/snap/lxd/common/lxd/storage-pools/default
            description: ""
            name: default
            driver: dir
            used_by: []
            status: Created
            locations:
            - none
          volume:
            config: {}
            description: ""
            name: lxdmade
            type: container
            used_by: []
            location: none
            content_type: filesystem
            project: default
            created_at: 2023-03-01T10:11:12.2Z

        """;

    [Fact]
    public async Task A_tarball_in_LXD_5_0_2s_own_format_imports_with_its_snapshot()
    {
        var dir = NewDir();
        var stage = Path.Combine(dir, "stage");
        var file = Path.Combine(dir, "lxd.tar.gz");
        try
        {
            // A root filesystem to carry: a stopped busybox container's, copied as it is on disk.
            await LxcOkAsync("launch", "busybox", "lx-src");
            await LxcOkAsync("stop", "lx-src", "--force");
            var src = Path.Combine(D.Dir, "storage-pools", "default", "containers", "lx-src");
            foreach (var (volume, data) in new[] { ("backup/snapshots/snap0", "from-snap"), ("backup/container", "from-main") })
            {
                Directory.CreateDirectory(Path.Combine(stage, volume));
                await HostOkAsync("cp", "-a", Path.Combine(src, "rootfs"), Path.Combine(src, "metadata.yaml"), Path.Combine(stage, volume));
                await File.WriteAllTextAsync(Path.Combine(stage, volume, "rootfs", "root", "data"), data + "\n");
            }
            await File.WriteAllTextAsync(Path.Combine(stage, "backup", "index.yaml"), LxdIndex);
            // LXD keeps the config in the volume too (backup/container/backup.yaml).
            await File.WriteAllTextAsync(Path.Combine(stage, "backup", "container", "backup.yaml"), LxdIndex[LxdIndex.IndexOf("  container:", StringComparison.Ordinal)..].Replace("\n  ", "\n", StringComparison.Ordinal).TrimStart());
            await HostOkAsync("tar", "-czf", file, "--numeric-owner", "--xattrs", "-C", stage, "backup/index.yaml", "backup/snapshots", "backup/container");
            await LxcOkAsync("delete", "lx-src");

            await LxcOkAsync("import", file);
            Assert.Equal("made by LXD", (await D.Api.GetAsync("/1.0/instances/lxdmade")).Metadata.GetProperty("description").GetString());
            Assert.Equal("lxd", (await LxcOkAsync("config", "get", "lxdmade", "user.origin")).Trim());
            // The other host's volatile state is not taken over.
            Assert.NotEqual("00:16:3e:12:34:56", (await LxcOkAsync("config", "get", "lxdmade", "volatile.eth0.hwaddr")).Trim());
            Assert.NotEqual("7d0f7f7e-8b0c-4c55-8f43-0d7b7d0b2f9a", (await LxcOkAsync("config", "get", "lxdmade", "volatile.uuid")).Trim());
            Assert.Contains("snap0", await LxcOkAsync("info", "lxdmade"));
            await LxcOkAsync("start", "lxdmade");
            Assert.Equal("from-main", await CatAsync("lxdmade", "/root/data"));
            await LxcOkAsync("restore", "lxdmade", "snap0");
            Assert.Equal("from-snap", await CatAsync("lxdmade", "/root/data"));
            Assert.Equal("lxd-snap", (await LxcOkAsync("config", "get", "lxdmade", "user.origin")).Trim());
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "lx-src");
            await D.LxcAsync("delete", "--force", "lxdmade");
            Directory.Delete(dir, true);
        }
    }

    /// <summary>A vfs_cap_data with cap_net_raw (bit 13) permitted and effective; v3 carries a root id.</summary>
    private static string Caps(int revision, uint rootid)
    {
        var b = new byte[revision == 3 ? 24 : 20];
        BitConverter.GetBytes((uint)(revision << 24) | 1u).CopyTo(b, 0);
        BitConverter.GetBytes(1u << 13).CopyTo(b, 4);
        if (revision == 3)
        {
            BitConverter.GetBytes(rootid).CopyTo(b, 20);
        }
        return Encoding.UTF8.GetString(b);
    }

    private static void AddXattrFile(TarWriter tar, string name, params (string Key, string Value)[] xattrs) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name, xattrs.Select(x => new KeyValuePair<string, string>("SCHILY.xattr." + x.Key, x.Value)))
        {
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes("x")),
        });

    private const string Index = "name: evil\nbackend: dir\npool: default\ntype: container\nconfig:\n  container:\n    name: evil\n    architecture: x86_64\n    profiles: [default]\n";

    public static IEnumerable<object[]> Hostile() => new[]
    {
        new object[] { "dotdot", "escapes" },
        new object[] { "outside", "unexpected entry" },
        new object[] { "under-symlink", "symlink" },
        new object[] { "device", "device node" },
        new object[] { "slash-name", "Invalid instance name" },
        new object[] { "no-index", "index.yaml is missing" },
        new object[] { "aliases", "aliases" },
        new object[] { "missing-snapshot", "backup/snapshots/ghost is missing" },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task Hostile_tarballs_are_refused_with_a_400_naming_the_problem_and_leave_nothing(string kind, string message)
    {
        var dir = NewDir();
        try
        {
            var file = Path.Combine(dir, kind + ".tar.gz");
            await using (var fs = File.Create(file))
            await using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
            await using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
            {
                var index = kind switch
                {
                    "slash-name" => Index.Replace("name: evil\nbackend", "name: ev/il\nbackend", StringComparison.Ordinal),
                    "aliases" => Index + "x: &a [1, 1]\ny: *a\n",
                    "missing-snapshot" => Index.Replace("type: container", "type: container\nsnapshots: [ghost]", StringComparison.Ordinal),
                    _ => Index,
                };
                if (kind != "no-index")
                {
                    AddFile(tar, "backup/index.yaml", index);
                }
                AddDir(tar, "backup/container");
                AddDir(tar, "backup/container/rootfs");
                switch (kind)
                {
                    case "dotdot":
                        AddFile(tar, "backup/container/rootfs/../../../../etc/evil", "x");
                        break;
                    case "outside":
                        AddFile(tar, "etc/evil", "x");
                        break;
                    case "under-symlink":
                        tar.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "backup/container/rootfs/link") { LinkName = "/etc" });
                        AddFile(tar, "backup/container/rootfs/link/evil", "x");
                        break;
                    case "device":
                        tar.WriteEntry(new PaxTarEntry(TarEntryType.BlockDevice, "backup/container/rootfs/sda") { DeviceMajor = 8, DeviceMinor = 0 });
                        break;
                }
            }
            var r = await D.LxcAsync("import", file);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains(message, r.Stderr);
            await AssertGoneAsync("evil");
            Assert.False(System.IO.File.Exists("/etc/evil"));
            Assert.False(Directory.Exists(Path.Combine(D.Dir, "storage-pools", "default", "containers", "evil")));
            AssertNoUploadLeftovers();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private async Task WaitAsync(ApiResponse r)
    {
        Assert.True(r.Type == "async", r.ToString());
        var id = r.Metadata.GetProperty("id").GetString();
        var done = await D.Api.GetAsync($"/1.0/operations/{id}/wait?timeout=120");
        Assert.True(done.Metadata.GetProperty("status").GetString() == "Success", done.ToString());
    }

    private static void AddFile(TarWriter tar, string name, string text) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });

    private static void AddDir(TarWriter tar, string name) => tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, name));

    internal static Stream Open(string file)
    {
        var fs = System.IO.File.OpenRead(file);
        var head = new byte[2];
        fs.ReadExactly(head);
        fs.Position = 0;
        return head[0] == 0x1f && head[1] == 0x8b ? new GZipStream(fs, CompressionMode.Decompress) : fs;
    }

    internal static List<string> ReadNames(string file)
    {
        using var s = Open(file);
        using var reader = new TarReader(s);
        var names = new List<string>();
        while (reader.GetNextEntry() is { } e)
        {
            names.Add(e.Name);
        }
        return names;
    }

    internal static PosixTarEntry ReadEntry(string file, string name)
    {
        using var s = Open(file);
        using var reader = new TarReader(s);
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            if (e.Name == name)
            {
                return (PosixTarEntry)e;
            }
        }
        throw new InvalidOperationException(name + " not in " + file);
    }

    internal static string ReadText(string file, string name)
    {
        var e = ReadEntry(file, name);
        using var r = new StreamReader(e.DataStream!);
        return r.ReadToEnd();
    }
}
