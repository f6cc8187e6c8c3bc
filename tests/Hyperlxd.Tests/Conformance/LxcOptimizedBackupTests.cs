using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

using static Hyperlxd.Tests.Conformance.LxcBackupTests;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// <c>lxc export --optimized-storage</c> on btrfs (LXD 5.0.2's layout: <c>btrfs send</c> streams, snapshots
/// incremental) and <c>lxc import</c> of such tarballs, including streams built to attack the importer.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcOptimizedBackupTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private string PoolPath(string pool) => Path.Combine(D.Dir, "storage-pools", pool);

    private string NewDir()
    {
        var dir = Path.Combine(D.Dir, "test-optbackups-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private async Task<string> CatAsync(string name, string path) => (await LxcOkAsync("exec", name, "--", "cat", path)).Trim();

    private static async Task<string> RunAsync(string file, params string[] args)
    {
        var r = await ProcessRunner.RunAsync(file, args);
        Assert.True(r.ExitCode == 0, $"{file} {string.Join(' ', args)}: {r.Stderr}");
        return r.Stdout;
    }

    /// <summary>Nothing of a failed or finished import/export is left: no work subvolume in the pool, no upload.</summary>
    private void AssertNoLeftovers(string pool)
    {
        var left = Directory.GetFileSystemEntries(Path.Combine(PoolPath(pool), "containers"), ".backup-*").ToList();
        var backups = Path.Combine(D.Dir, "backups");
        if (Directory.Exists(backups))
        {
            left.AddRange(Directory.GetFileSystemEntries(backups).Where(p => Path.GetFileName(p).StartsWith('.')));
        }
        Assert.True(left.Count == 0, "left behind: " + string.Join(", ", left));
    }

    [Fact]
    public async Task Optimized_export_is_btrfs_send_with_incremental_snapshots_and_imports_back()
    {
        var dir = NewDir();
        var file = Path.Combine(dir, "ob1.tar.gz");
        try
        {
            await LxcOkAsync("storage", "create", "ob-btrfs", "btrfs", "size=1GiB");
            await LxcOkAsync("launch", "busybox", "ob1", "-s", "ob-btrfs", "-c", "user.tag=kept");
            await LxcOkAsync("exec", "ob1", "--", "sh", "-c", "echo v1 > /root/data && chown 1000:1000 /root/data");
            await LxcOkAsync("snapshot", "ob1", "s0");
            await LxcOkAsync("exec", "ob1", "--", "sh", "-c", "echo v2 > /root/data && echo more > /root/other");
            await LxcOkAsync("snapshot", "ob1", "s1");
            await LxcOkAsync("exec", "ob1", "--", "sh", "-c", "echo v3 > /root/data");
            await LxcOkAsync("stop", "ob1", "--force");

            Assert.Contains("Backup exported successfully", await LxcOkAsync("export", "ob1", file, "--optimized-storage"));
            // LXD 5.0.2's btrfs layout, in its order.
            Assert.Equal(new[] { "backup/index.yaml", "backup/optimized_header.yaml", "backup/snapshots/s0.bin", "backup/snapshots/s1.bin", "backup/container.bin" },
                ReadNames(file));
            var index = ReadText(file, "backup/index.yaml");
            Assert.Contains("optimized: true", index);
            Assert.Contains("optimized_header: true", index);
            Assert.Contains("backend: btrfs", index);
            Assert.Contains("path: /", ReadText(file, "backup/optimized_header.yaml"));
            // The first snapshot is a full stream, the next and the volume are relative to the one before.
            Assert.StartsWith("subvol ", await DumpAsync(file, "backup/snapshots/s0.bin", dir));
            Assert.StartsWith("snapshot ", await DumpAsync(file, "backup/snapshots/s1.bin", dir));
            Assert.StartsWith("snapshot ", await DumpAsync(file, "backup/container.bin", dir));
            AssertNoLeftovers("ob-btrfs");

            // A dir pool cannot take btrfs streams: refused as LXD refuses it, nothing made.
            var onDir = await D.LxcAsync("import", file, "ob1-dir", "-s", "default");
            Assert.NotEqual(0, onDir.ExitCode);
            Assert.Contains("Optimized backup storage driver \"btrfs\" differs from the target storage pool driver \"dir\"", onDir.Stderr);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/ob1-dir")).Status);

            await LxcOkAsync("delete", "ob1");
            await LxcOkAsync("import", file);
            var info = await LxcOkAsync("info", "ob1");
            Assert.Contains("s0", info);
            Assert.Contains("s1", info);
            Assert.Equal("kept", (await LxcOkAsync("config", "get", "ob1", "user.tag")).Trim());
            Assert.Contains("pool: ob-btrfs", await LxcOkAsync("config", "show", "ob1", "--expanded"));
            // Snapshots are read-only subvolumes again, the volume a writable one.
            var snap = Path.Combine(PoolPath("ob-btrfs"), "containers-snapshots", "ob1", "s1");
            Assert.Contains("ro=true", await RunAsync("btrfs", "property", "get", "-ts", snap, "ro"));
            Assert.Contains("ro=false", await RunAsync("btrfs", "property", "get", "-ts", Path.Combine(PoolPath("ob-btrfs"), "containers", "ob1"), "ro"));
            await LxcOkAsync("start", "ob1");
            Assert.Equal("v3", await CatAsync("ob1", "/root/data"));
            Assert.Equal("1000 1000", (await LxcOkAsync("exec", "ob1", "--", "stat", "-c", "%u %g", "/root/data")).Trim());
            await LxcOkAsync("exec", "ob1", "--", "sh", "-c", "echo v4 > /root/data");
            await LxcOkAsync("restore", "ob1", "s1");
            Assert.Equal("v2", await CatAsync("ob1", "/root/data"));
            Assert.Equal("more", await CatAsync("ob1", "/root/other"));
            await LxcOkAsync("restore", "ob1", "s0");
            Assert.Equal("v1", await CatAsync("ob1", "/root/data"));

            // Again under a new name while the original exists; the same name again is a conflict.
            await LxcOkAsync("import", file, "ob1-copy");
            await LxcOkAsync("start", "ob1-copy");
            Assert.Equal("v3", await CatAsync("ob1-copy", "/root/data"));
            var again = await D.LxcAsync("import", file, "ob1-copy");
            Assert.NotEqual(0, again.ExitCode);
            Assert.Contains("already exists", again.Stderr);
            AssertNoLeftovers("ob-btrfs");

            // --instance-only: the volume alone, a full stream.
            var only = Path.Combine(dir, "only.tar.gz");
            await LxcOkAsync("export", "ob1-copy", only, "--optimized-storage", "--instance-only");
            Assert.Equal(new[] { "backup/index.yaml", "backup/optimized_header.yaml", "backup/container.bin" }, ReadNames(only));
            Assert.StartsWith("subvol ", await DumpAsync(only, "backup/container.bin", dir));
            await LxcOkAsync("import", only, "ob1-only");
            Assert.DoesNotContain("s0", await LxcOkAsync("info", "ob1-only"));
            await LxcOkAsync("start", "ob1-only");
            Assert.Equal("v3", await CatAsync("ob1-only", "/root/data"));
        }
        finally
        {
            foreach (var n in new[] { "ob1", "ob1-copy", "ob1-only", "ob1-dir" })
            {
                await D.LxcAsync("delete", "--force", n);
            }
            await D.LxcAsync("storage", "delete", "ob-btrfs");
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Hostile_btrfs_streams_are_refused_and_leave_nothing()
    {
        var dir = NewDir();
        var escape = Path.Combine("/tmp", "hlxd-escape-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(escape);
        var scratch = "";
        try
        {
            await LxcOkAsync("storage", "create", "ob-evil", "btrfs", "size=1GiB");
            scratch = Path.Combine(PoolPath("ob-evil"), "scratch");
            Directory.CreateDirectory(scratch);

            // 1. Not a btrfs stream at all.
            var garbage = await ImportAsync(dir, "garbage", Encoding.UTF8.GetBytes("not a btrfs stream\n"));
            Assert.Contains("btrfs receive failed", garbage);

            // 2. A real stream holding a device node (the tarball path refuses them too).
            var dev = Path.Combine(scratch, "dev");
            await RunAsync("btrfs", "-q", "subvolume", "create", dev);
            await RunAsync("mknod", Path.Combine(dev, "sda"), "b", "8", "0");
            var device = await ImportAsync(dir, "device", await SendAsync(dev, dir));
            Assert.Contains("device node", device);

            // 3. A stream rewritten to move a file through an absolute symlink it made: "bbbb" -> the host's escape
            // directory, then "aaaa/evil" renamed to "bbbb/evil" (CRCs fixed): received confined, it cannot land outside.
            var src = Path.Combine(scratch, "esc");
            await RunAsync("btrfs", "-q", "subvolume", "create", src);
            File.CreateSymbolicLink(Path.Combine(src, "bbbb"), escape);
            Directory.CreateDirectory(Path.Combine(src, "aaaa"));
            await File.WriteAllTextAsync(Path.Combine(src, "aaaa", "evil"), "owned");
            var stream = RewriteStream(await SendAsync(src, dir), "aaaa/", "bbbb/");
            var escaped = await ImportAsync(dir, "escape", stream);
            Assert.Contains("btrfs receive failed", escaped);
            Assert.Empty(Directory.GetFileSystemEntries(escape));

            // 4. Index lies: a listed snapshot without its stream; not optimized but holding a stream.
            var one = await SendAsync(src, dir);
            Assert.Contains("backup/snapshots/ghost.bin is missing", await ImportAsync(dir, "ghost", one, snapshots: "snapshots: [ghost]\n"));
            Assert.Contains("holds streams", await ImportAsync(dir, "unoptimized", one, optimized: "false"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "evil");
            if (scratch.Length > 0 && Directory.Exists(scratch))
            {
                foreach (var sub in Directory.GetDirectories(scratch))
                {
                    await ProcessRunner.RunAsync("btrfs", ["-q", "subvolume", "delete", sub]);
                }
                Directory.Delete(scratch);
            }
            await D.LxcAsync("storage", "delete", "ob-evil");
            Directory.Delete(dir, true);
            Directory.Delete(escape, true);
        }
    }

    /// <summary>Imports an optimized tarball holding <paramref name="stream"/> as the volume; it must fail, leaving nothing. Returns stderr.</summary>
    private async Task<string> ImportAsync(string dir, string kind, byte[] stream, string snapshots = "", string optimized = "true")
    {
        var file = Path.Combine(dir, kind + ".tar.gz");
        await using (var fs = File.Create(file))
        await using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        await using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
        {
            var index = $"name: evil\nbackend: btrfs\npool: ob-evil\ntype: container\noptimized: {optimized}\noptimized_header: false\n{snapshots}"
                        + "config:\n  container:\n    name: evil\n    architecture: x86_64\n    profiles: [default]\n";
            AddFile(tar, "backup/index.yaml", Encoding.UTF8.GetBytes(index));
            AddFile(tar, "backup/container.bin", stream);
        }
        var r = await D.LxcAsync("import", file);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await D.Api.GetAsync("/1.0/instances/evil")).Status);
        Assert.False(Directory.Exists(Path.Combine(PoolPath("ob-evil"), "containers", "evil")));
        Assert.False(Directory.Exists(Path.Combine(PoolPath("ob-evil"), "containers-snapshots", "evil")));
        AssertNoLeftovers("ob-evil");
        return r.Stderr;
    }

    private static async Task<byte[]> SendAsync(string subvolume, string dir)
    {
        await RunAsync("btrfs", "property", "set", "-ts", subvolume, "ro", "true");
        var file = Path.Combine(dir, "send-" + Guid.NewGuid().ToString("N")[..8]);
        await RunAsync("btrfs", "-q", "send", "-f", file, subvolume);
        await RunAsync("btrfs", "property", "set", "-ts", subvolume, "ro", "false");
        return await File.ReadAllBytesAsync(file);
    }

    /// <summary>
    /// Replaces <paramref name="from"/> by <paramref name="to"/> (same length) in every command of a send stream
    /// (v1: "btrfs-stream\0", le32 version; commands of le32 length, le16 type, le32 crc32c over the command with
    /// its crc zeroed) and fixes each changed command's checksum, as an attacker would.
    /// </summary>
    private static byte[] RewriteStream(byte[] stream, string from, string to)
    {
        var a = Encoding.ASCII.GetBytes(from);
        var b = Encoding.ASCII.GetBytes(to);
        var s = (byte[])stream.Clone();
        var changed = 0;
        for (var pos = 17; pos + 10 <= s.Length;)
        {
            var len = BitConverter.ToInt32(s, pos);
            var end = pos + 10 + len;
            var original = BitConverter.ToUInt32(s, pos + 6);
            Array.Clear(s, pos + 6, 4);
            Assert.Equal(original, Crc32C(s.AsSpan(pos, 10 + len))); // the checksum is understood
            for (var i = pos + 10; i + a.Length <= end; i++)
            {
                if (s.AsSpan(i, a.Length).SequenceEqual(a))
                {
                    b.CopyTo(s, i);
                    changed++;
                }
            }
            BitConverter.GetBytes(Crc32C(s.AsSpan(pos, 10 + len))).CopyTo(s, pos + 6);
            pos = end;
        }
        Assert.True(changed > 0, "nothing to rewrite");
        return s;
    }

    /// <summary>btrfs-progs' crc32c: Castagnoli, reflected, seed 0, no final inversion.</summary>
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0;
        foreach (var x in data)
        {
            crc ^= x;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
            }
        }
        return crc;
    }

    /// <summary>The first command of a stream in the tarball, as <c>btrfs receive --dump</c> prints it.</summary>
    private static async Task<string> DumpAsync(string file, string member, string dir)
    {
        var path = Path.Combine(dir, "dump-" + Guid.NewGuid().ToString("N")[..8]);
        var e = ReadEntry(file, member);
        await using (var f = File.Create(path))
        {
            await e.DataStream!.CopyToAsync(f);
        }
        return (await RunAsync("btrfs", "receive", "--dump", "-f", path)).TrimStart();
    }

    private static void AddFile(TarWriter tar, string name, byte[] data) =>
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
}
