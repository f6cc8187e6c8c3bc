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
public sealed class UnpackTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime
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
