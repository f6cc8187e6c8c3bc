using Hyperlxd.Core;
using Hyperlxd.Core.Images;
using Hyperlxd.Images;
using Hyperlxd.State.Repositories;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.State;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Tests.Images;

/// <summary>
/// <see cref="IImageSource.UnpackAsync"/> (what the storage tier calls to fill a pool's cache) and
/// <see cref="IImageCache.EvictAsync"/> on delete, in process over a real PostgreSQL.
/// </summary>
public sealed class UnpackTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime, IDisposable
{
    private readonly string _dir = Repo.TempDir("hlx-unpack-");
    private ImageStore _store = null!;
    private readonly RecordingCache _cache = new();

    private sealed class RecordingCache : IImageCache
    {
        public List<string> Evicted { get; } = new();

        public Task EvictAsync(string fingerprint, CancellationToken ct)
        {
            Evicted.Add(fingerprint);
            return Task.CompletedTask;
        }
    }

    public async Task InitializeAsync()
    {
        await ImageFixture.EnsureImagesAsync();
        _store = new ImageStore(Path.Combine(_dir, "images"), new ImageRepository(pg.Db), _cache, NullLogger<ImageStore>.Instance);
    }

    public void Dispose() => _store?.Dispose();

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, true);
        return Task.CompletedTask;
    }

    private async Task<string> ImportAsync(params string[] files)
    {
        await using var upload = _store.BeginUpload(ImageStore.DefaultMaxUploadSize);
        foreach (var f in files)
        {
            await using var s = File.OpenRead(f);
            await upload.AddPartAsync(Path.GetFileName(f), s, CancellationToken.None);
        }
        return (await _store.ImportAsync(upload, new ImportOptions(), CancellationToken.None)).Fingerprint;
    }

    [Theory]
    [InlineData("unified")]
    [InlineData("split-tar")]
    [InlineData("split-squashfs")]
    public async Task Unpack_lays_out_metadata_templates_and_rootfs_then_delete_evicts(string kind)
    {
        var fp = kind switch
        {
            "unified" => await ImportAsync(ImageFixture.Busybox),
            "split-tar" => await ImportAsync(ImageFixture.BusyboxMeta, ImageFixture.BusyboxRootfs),
            _ => await ImportAsync(ImageFixture.BusyboxMeta, ImageFixture.BusyboxSquashfs),
        };
        var target = Path.Combine(_dir, "unpacked-" + kind);
        await ((IImageSource)_store).UnpackAsync(fp, target, CancellationToken.None);
        Assert.Contains("architecture: x86_64", await File.ReadAllTextAsync(Path.Combine(target, "metadata.yaml")));
        Assert.True(Directory.Exists(Path.Combine(target, "templates")));
        var busybox = new FileInfo(Path.Combine(target, "rootfs", "bin", "busybox"));
        Assert.True(busybox.Exists);
        Assert.True(busybox.UnixFileMode.HasFlag(UnixFileMode.UserExecute));
        Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(target, "rootfs", "sbin", "init")).LinkTarget);
        Assert.Equal("busybox\n", await File.ReadAllTextAsync(Path.Combine(target, "rootfs", "etc", "hostname")));
        Assert.True(new DirectoryInfo(Path.Combine(target, "rootfs", "tmp")).UnixFileMode.HasFlag(UnixFileMode.StickyBit));

        await _store.DeleteAsync(fp, CancellationToken.None);
        Assert.Contains(fp, _cache.Evicted);
        Assert.Empty(Directory.GetFiles(_store.Dir));
        await Assert.ThrowsAsync<NotFoundException>(() => _store.UnpackAsync(fp, target + "-again", CancellationToken.None));
    }

    /// <summary>
    /// Issue 9 finding 16: tar's semantics (leading "/" stripped, a later member replaces an earlier
    /// one) while nothing is written outside: a replaced symlink is unlinked, never written through.
    /// </summary>
    [Fact]
    public async Task Later_members_replace_earlier_ones_as_tar_does_and_nothing_is_written_outside()
    {
        var victim = Path.Combine(_dir, "victim");
        await File.WriteAllTextAsync(victim, "host file");
        var victimDir = Path.Combine(_dir, "victim-dir");
        Directory.CreateDirectory(victimDir);
        var image = Path.Combine(_dir, "replacing.tar.gz");
        await File.WriteAllBytesAsync(image, TarBuilder.Unified(
            TarBuilder.Reg("/rootfs/abs", "absolute name"),
            TarBuilder.Reg("rootfs/f", "file"), TarBuilder.Symlink("rootfs/f", "/bin/busybox"),
            TarBuilder.Symlink("rootfs/s", victim), TarBuilder.Reg("rootfs/s", "now a file"),
            TarBuilder.Symlink("rootfs/d", victimDir), TarBuilder.Dir("rootfs/d"), TarBuilder.Reg("rootfs/d/x", "in d"),
            TarBuilder.Dir("rootfs/e"), TarBuilder.Reg("rootfs/e", "was an empty dir"),
            TarBuilder.Reg("rootfs/h1", "one"), TarBuilder.Hardlink("rootfs/h2", "rootfs/h1"), TarBuilder.Reg("rootfs/h2", "two"),
            TarBuilder.Reg("rootfs/etc/hostname", "replaced\n")));
        var fp = await ImportAsync(image);
        var target = Path.Combine(_dir, "unpacked-replacing");
        await _store.UnpackAsync(fp, target, CancellationToken.None);
        var root = Path.Combine(target, "rootfs");
        Assert.Equal("absolute name", await File.ReadAllTextAsync(Path.Combine(root, "abs")));
        Assert.Equal("/bin/busybox", new FileInfo(Path.Combine(root, "f")).LinkTarget);
        Assert.Null(new FileInfo(Path.Combine(root, "s")).LinkTarget);
        Assert.Equal("now a file", await File.ReadAllTextAsync(Path.Combine(root, "s")));
        Assert.Null(new DirectoryInfo(Path.Combine(root, "d")).LinkTarget);
        Assert.Equal("in d", await File.ReadAllTextAsync(Path.Combine(root, "d", "x")));
        Assert.Equal("was an empty dir", await File.ReadAllTextAsync(Path.Combine(root, "e")));
        Assert.Equal("one", await File.ReadAllTextAsync(Path.Combine(root, "h1")));
        Assert.Equal("two", await File.ReadAllTextAsync(Path.Combine(root, "h2")));
        Assert.Equal("replaced\n", await File.ReadAllTextAsync(Path.Combine(root, "etc", "hostname")));
        Assert.Equal("host file", await File.ReadAllTextAsync(victim));
        Assert.Empty(Directory.GetFileSystemEntries(victimDir));
        await _store.DeleteAsync(fp, CancellationToken.None);
    }

    /// <summary>A split image's metadata tarball cannot redirect the rootfs part ("rootfs" → somewhere on the host).</summary>
    [Fact]
    public async Task A_rootfs_symlink_in_split_metadata_is_not_followed()
    {
        var victimDir = Path.Combine(_dir, "victim-root");
        Directory.CreateDirectory(victimDir);
        var meta = Path.Combine(_dir, "meta.tar.gz");
        await File.WriteAllBytesAsync(meta, TarBuilder.Gzip(TarBuilder.Tar(
            TarBuilder.Reg("metadata.yaml", TarBuilder.GoodMetadata), TarBuilder.Symlink("rootfs", victimDir))));
        var fp = await ImportAsync(meta, ImageFixture.BusyboxRootfs);
        var target = Path.Combine(_dir, "unpacked-split-link");
        await _store.UnpackAsync(fp, target, CancellationToken.None);
        Assert.Null(new DirectoryInfo(Path.Combine(target, "rootfs")).LinkTarget);
        Assert.True(File.Exists(Path.Combine(target, "rootfs", "bin", "busybox")));
        Assert.Empty(Directory.GetFileSystemEntries(victimDir));
        await _store.DeleteAsync(fp, CancellationToken.None);
    }

    [Fact]
    public async Task Reconcile_removes_files_without_a_row_and_keeps_images()
    {
        var fp = await ImportAsync(ImageFixture.Busybox);
        var orphan = Path.Combine(_store.Dir, new string('a', 64));
        await File.WriteAllTextAsync(orphan, "x");
        await File.WriteAllTextAsync(orphan + ".rootfs", "x");
        await _store.ReconcileAsync(CancellationToken.None);
        Assert.Equal([fp], Directory.GetFiles(_store.Dir).Select(Path.GetFileName));
        await _store.DeleteAsync(fp, CancellationToken.None);
    }

    [Fact]
    public async Task Vm_image_unpacks_to_root_img()
    {
        var dir = Path.Combine(_dir, "vm");
        Directory.CreateDirectory(dir);
        var disk = Path.Combine(dir, "disk.qcow2");
        await File.WriteAllBytesAsync(disk, [(byte)'Q', (byte)'F', (byte)'I', 0xfb, .. new byte[1020]]);
        var fp = await ImportAsync(ImageFixture.BusyboxMeta, disk);
        var target = Path.Combine(_dir, "unpacked-vm");
        await _store.UnpackAsync(fp[..10], target, CancellationToken.None);
        Assert.Equal(await File.ReadAllBytesAsync(disk), await File.ReadAllBytesAsync(Path.Combine(target, "root.img")));
        Assert.False(Directory.Exists(Path.Combine(target, "rootfs")));
        await _store.DeleteAsync(fp, CancellationToken.None);
    }
}
