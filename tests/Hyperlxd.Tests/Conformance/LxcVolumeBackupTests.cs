using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Text;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

using static Hyperlxd.Tests.Conformance.LxcBackupTests;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Custom volume backups (<c>custom_volume_backup</c>) with the stock client: <c>lxc storage volume export</c> /
/// <c>import</c> on dir and btrfs (optimized), the backups API (expiry, rename, delete, export) and hostile tarballs.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcVolumeBackupTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private string VolumePath(string pool, string volume) => Path.Combine(D.Dir, "storage-pools", pool, "custom", volume);

    private string NewDir()
    {
        var dir = Path.Combine(D.Dir, "test-volbackups-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private void Write(string pool, string volume, string name, string text) => File.WriteAllText(Path.Combine(VolumePath(pool, volume), name), text);

    private string Read(string pool, string volume, string name) => File.ReadAllText(Path.Combine(VolumePath(pool, volume), name));

    private async Task<List<string>> SnapshotsAsync(string pool, string volume)
    {
        var r = await D.Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/{volume}/snapshots");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        return r.Metadata.EnumerateArray().Select(e => e.GetString()!.Split('/')[^1]).ToList();
    }

    private async Task AssertNoVolumeAsync(string pool, string volume) =>
        Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync($"/1.0/storage-pools/{pool}/volumes/custom/{volume}")).Status);

    private void AssertNoUploadLeftovers()
    {
        var backups = Path.Combine(D.Dir, "backups");
        var left = Directory.Exists(backups) ? Directory.GetFileSystemEntries(backups).Where(p => Path.GetFileName(p).StartsWith('.')).ToList() : new();
        Assert.True(left.Count == 0, "left behind: " + string.Join(", ", left));
    }

    [Fact]
    public async Task Export_delete_import_brings_back_data_config_and_snapshots_also_under_a_new_name()
    {
        var dir = NewDir();
        var file = Path.Combine(dir, "vb1.tar.gz");
        try
        {
            await LxcOkAsync("storage", "volume", "create", "default", "vb1", "user.tag=kept");
            Write("default", "vb1", "data", "v1");
            File.SetUnixFileMode(Path.Combine(VolumePath("default", "vb1"), "data"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await ProcessRunner.RunAsync("chown", new[] { "1000001:1000002", Path.Combine(VolumePath("default", "vb1"), "data") });
            await LxcOkAsync("storage", "volume", "snapshot", "default", "vb1", "s0");
            Write("default", "vb1", "data", "v2");
            Write("default", "vb1", "other", "more");
            await LxcOkAsync("storage", "volume", "snapshot", "default", "vb1", "s1");
            Write("default", "vb1", "data", "v3");

            Assert.Contains("Backup exported successfully", await LxcOkAsync("storage", "volume", "export", "default", "vb1", file));
            var names = ReadNames(file);
            Assert.Equal("backup/index.yaml", names[0]);
            Assert.Contains("backup/volume-snapshots/s0/data", names);
            Assert.Contains("backup/volume-snapshots/s1/other", names);
            Assert.Contains("backup/volume/data", names);
            Assert.DoesNotContain(names, n => n.StartsWith("backup/container", StringComparison.Ordinal));
            var index = ReadText(file, "backup/index.yaml");
            Assert.Contains("type: custom", index);
            Assert.Contains("user.tag: kept", index);
            Assert.Contains("volume_snapshots:", index);
            Assert.Equal("v1", Encoding.UTF8.GetString(((MemoryStream)ReadEntry(file, "backup/volume-snapshots/s0/data").DataStream!).ToArray()));
            // lxc deletes its backup once downloaded.
            Assert.Equal("[]", (await D.Api.GetAsync("/1.0/storage-pools/default/volumes/custom/vb1/backups")).Metadata.ToString());

            await LxcOkAsync("storage", "volume", "delete", "default", "vb1");
            await AssertNoVolumeAsync("default", "vb1");
            await LxcOkAsync("storage", "volume", "import", "default", file);
            Assert.Equal("v3", Read("default", "vb1", "data"));
            Assert.Equal("more", Read("default", "vb1", "other"));
            Assert.Equal("1000001 1000002", (await ProcessRunner.RunAsync("stat", new[] { "-c", "%u %g", Path.Combine(VolumePath("default", "vb1"), "data") })).Stdout.Trim());
            Assert.Equal("kept", (await LxcOkAsync("storage", "volume", "get", "default", "vb1", "user.tag")).Trim());
            Assert.Equal(new[] { "s0", "s1" }, await SnapshotsAsync("default", "vb1"));
            await LxcOkAsync("storage", "volume", "restore", "default", "vb1", "s1");
            Assert.Equal("v2", Read("default", "vb1", "data"));
            await LxcOkAsync("storage", "volume", "restore", "default", "vb1", "s0");
            Assert.Equal("v1", Read("default", "vb1", "data"));
            Assert.False(File.Exists(Path.Combine(VolumePath("default", "vb1"), "other")));

            // Under a new name next to the original; the same name again is a conflict and makes nothing.
            await LxcOkAsync("storage", "volume", "import", "default", file, "vb1-copy");
            Assert.Equal("v3", Read("default", "vb1-copy", "data"));
            Assert.Equal(new[] { "s0", "s1" }, await SnapshotsAsync("default", "vb1-copy"));
            var again = await D.LxcAsync("storage", "volume", "import", "default", file, "vb1-copy");
            Assert.NotEqual(0, again.ExitCode);
            Assert.Contains("already exists", again.Stderr);

            // --volume-only: no snapshots in the tarball or in the imported volume.
            var only = Path.Combine(dir, "only.tar.gz");
            await LxcOkAsync("storage", "volume", "export", "default", "vb1-copy", only, "--volume-only");
            Assert.DoesNotContain(ReadNames(only), n => n.StartsWith("backup/volume-snapshots", StringComparison.Ordinal));
            await LxcOkAsync("storage", "volume", "import", "default", only, "vb1-only");
            Assert.Equal("v3", Read("default", "vb1-only", "data"));
            Assert.Empty(await SnapshotsAsync("default", "vb1-only"));
            AssertNoUploadLeftovers();
        }
        finally
        {
            foreach (var v in new[] { "vb1", "vb1-copy", "vb1-only" })
            {
                await D.LxcAsync("storage", "volume", "delete", "default", v);
            }
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Backups_api_creates_lists_renames_exports_expires_and_deletes()
    {
        const string Base = "/1.0/storage-pools/default/volumes/custom/vb2/backups";
        await LxcOkAsync("storage", "volume", "create", "default", "vb2");
        try
        {
            Write("default", "vb2", "data", "hello");
            var future = DateTimeOffset.UtcNow.AddDays(1).ToString("O");
            await WaitAsync(await D.Api.PostAsync(Base, $$"""{"name":"b0","expires_at":"{{future}}","volume_only":true,"compression_algorithm":"zstd"}"""));
            await WaitAsync(await D.Api.PostAsync(Base, "{}"));
            var list = (await D.Api.GetAsync(Base + "?recursion=1")).Metadata.EnumerateArray().ToList();
            Assert.Equal(new[] { "b0", "backup0" }, list.Select(b => b.GetProperty("name").GetString()).Order());
            var b0 = list.Single(b => b.GetProperty("name").GetString() == "b0");
            Assert.True(b0.GetProperty("volume_only").GetBoolean());
            Assert.True(b0.GetProperty("expires_at").GetDateTimeOffset() > DateTimeOffset.UtcNow);
            Assert.StartsWith("0001-01-01", list.Single(b => b.GetProperty("name").GetString() == "backup0").GetProperty("expires_at").GetString());

            await WaitAsync(await D.Api.PostAsync(Base + "/b0", """{"name":"b1"}"""));
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync(Base + "/b0")).Status);
            var export = await D.Api.RawAsync(Base + "/b1/export");
            Assert.Equal(HttpStatusCode.OK, export.StatusCode);
            var bytes = await export.Content.ReadAsByteArrayAsync();
            Assert.Equal(new byte[] { 0x28, 0xb5, 0x2f, 0xfd }, bytes[..4]); // zstd magic

            // Bad input is a 400 naming it; nothing is made.
            var bad = await D.Api.PostAsync(Base, """{"name":"x","compression_algorithm":"rot13"}""");
            Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await D.Api.PostAsync(Base, """{"name":"a/b"}""")).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await D.Api.PostAsync(Base, """{"volume_only":"yes"}""")).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync(Base + "/x")).Status);

            // A backup past its expiry is never shown again, and its file goes.
            var past = DateTimeOffset.UtcNow.AddSeconds(2).ToString("O");
            await WaitAsync(await D.Api.PostAsync(Base, $$"""{"name":"soon","expires_at":"{{past}}"}"""));
            await Task.Delay(2500);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync(Base + "/soon")).Status);
            var files = Directory.GetDirectories(Path.Combine(D.Dir, "backups", "custom")).SelectMany(Directory.GetFiles).Select(Path.GetFileName).ToList();
            Assert.DoesNotContain("soon", files);
            Assert.Contains("b1", files);

            await WaitAsync(await D.Api.DeleteAsync(Base + "/backup0"));
            Assert.Equal(new[] { "b1" }, (await D.Api.GetAsync(Base + "?recursion=1")).Metadata.EnumerateArray().Select(b => b.GetProperty("name").GetString()));
        }
        finally
        {
            await LxcOkAsync("storage", "volume", "delete", "default", "vb2");
        }
        // The volume's backups went with it.
        var custom = Path.Combine(D.Dir, "backups", "custom");
        Assert.DoesNotContain(Directory.GetDirectories(custom).SelectMany(Directory.GetFiles), f => Path.GetFileName(f) == "b1");
    }

    [Fact]
    public async Task Optimized_export_on_btrfs_is_send_streams_and_imports_only_on_btrfs()
    {
        var dir = NewDir();
        var file = Path.Combine(dir, "vb3.tar.gz");
        try
        {
            await LxcOkAsync("storage", "create", "vb-btrfs", "btrfs", "size=1GiB");
            await LxcOkAsync("storage", "volume", "create", "vb-btrfs", "vb3");
            Write("vb-btrfs", "vb3", "data", "v1");
            await LxcOkAsync("storage", "volume", "snapshot", "vb-btrfs", "vb3", "s0");
            Write("vb-btrfs", "vb3", "data", "v2");

            await LxcOkAsync("storage", "volume", "export", "vb-btrfs", "vb3", file, "--optimized-storage");
            Assert.Equal(new[] { "backup/index.yaml", "backup/optimized_header.yaml", "backup/volume-snapshots/s0.bin", "backup/volume.bin" }, ReadNames(file));
            Assert.Contains("optimized: true", ReadText(file, "backup/index.yaml"));

            var onDir = await D.LxcAsync("storage", "volume", "import", "default", file, "vb3-dir");
            Assert.NotEqual(0, onDir.ExitCode);
            Assert.Contains("Optimized backup storage driver \"btrfs\" differs from the target storage pool driver \"dir\"", onDir.Stderr);
            await AssertNoVolumeAsync("default", "vb3-dir");

            await LxcOkAsync("storage", "volume", "import", "vb-btrfs", file, "vb3-copy");
            Assert.Equal("v2", Read("vb-btrfs", "vb3-copy", "data"));
            Assert.Equal(new[] { "s0" }, await SnapshotsAsync("vb-btrfs", "vb3-copy"));
            await LxcOkAsync("storage", "volume", "restore", "vb-btrfs", "vb3-copy", "s0");
            Assert.Equal("v1", Read("vb-btrfs", "vb3-copy", "data"));
            AssertNoUploadLeftovers();
        }
        finally
        {
            await D.LxcAsync("storage", "volume", "delete", "vb-btrfs", "vb3");
            await D.LxcAsync("storage", "volume", "delete", "vb-btrfs", "vb3-copy");
            await D.LxcAsync("storage", "delete", "vb-btrfs");
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("dotdot", "..")]
    [InlineData("instance", "not \"custom\"")]
    [InlineData("missing-snapshot", "snapshot \"ghost\" is listed in backup/index.yaml but backup/volume-snapshots/ghost is missing")]
    [InlineData("container-dir", "unexpected entry")]
    [InlineData("no-volume", "backup/volume is missing")]
    public async Task Hostile_or_wrong_tarballs_are_refused_and_make_nothing(string kind, string message)
    {
        var dir = NewDir();
        var file = Path.Combine(dir, kind + ".tar.gz");
        try
        {
            const string Index = "name: evilvol\nbackend: dir\npool: default\ntype: custom\nconfig:\n  volume:\n    name: evilvol\n    type: custom\n    config: {}\n";
            await using (var fs = File.Create(file))
            await using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
            await using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
            {
                var index = kind switch
                {
                    "instance" => Index.Replace("type: custom\nconfig", "type: container\nconfig", StringComparison.Ordinal),
                    "missing-snapshot" => Index.Replace("pool: default\n", "pool: default\nsnapshots: [ghost]\n", StringComparison.Ordinal),
                    _ => Index,
                };
                AddFile(tar, "backup/index.yaml", index);
                if (kind != "no-volume")
                {
                    tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "backup/volume"));
                }
                switch (kind)
                {
                    case "dotdot":
                        AddFile(tar, "backup/volume/../../../../etc/evilvol", "x");
                        break;
                    case "container-dir":
                        AddFile(tar, "backup/container/rootfs/x", "x");
                        break;
                }
            }
            var r = await D.LxcAsync("storage", "volume", "import", "default", file);
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains(message, r.Stderr);
            await AssertNoVolumeAsync("default", "evilvol");
            Assert.False(File.Exists("/etc/evilvol"));
            Assert.False(Directory.Exists(VolumePath("default", "evilvol")));
            AssertNoUploadLeftovers();
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static void AddFile(TarWriter tar, string name, string text) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });

    private async Task WaitAsync(ApiResponse r)
    {
        Assert.True(r.Type == "async", r.ToString());
        var id = r.Metadata.GetProperty("id").GetString();
        var done = await D.Api.GetAsync($"/1.0/operations/{id}/wait?timeout=120");
        Assert.True(done.Metadata.GetProperty("status").GetString() == "Success", done.ToString());
    }
}
