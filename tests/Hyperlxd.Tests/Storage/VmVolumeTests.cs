using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Storage;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;
using Hyperlxd.Tests.State;

namespace Hyperlxd.Tests.Storage;

/// <summary>
/// VM root volumes on real dir and btrfs pools, made from the built VM test image: on dir a qcow2
/// overlay of the image volume's disk, on btrfs a subvolume snapshot; the root disk's size grows the
/// disk (never shrinks it); snapshots, restores and renames keep a disk QEMU's user can open; the
/// image volume outlives its image while an overlay needs it.
/// </summary>
public sealed class VmVolumeTests(PostgresFixture pg) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    private VmLayer _layer = null!;
    private string _fingerprint = "";
    private readonly string _btrfs = "b" + Guid.NewGuid().ToString("N")[..8];

    private static CancellationToken Ct => VmLayer.Ct;

    public async Task InitializeAsync()
    {
        _layer = new VmLayer(pg.Server.ConnectionString);
        await _layer.StartAsync();
        await _layer.CreatePoolAsync(_btrfs, "btrfs", new() { ["size"] = "1GiB" });
        _fingerprint = await _layer.ImportAsync(VmTestImage.Unified);
    }

    public async Task DisposeAsync() => await _layer.StopAsync();

    private string PoolDir(string pool) => Path.Combine(_layer.Dir, "storage-pools", pool);

    private string Disk(string pool, string name) => Path.Combine(PoolDir(pool), "virtual-machines", name, "root.img");

    private InstancesPost Post(string name, string pool, string? size = null)
    {
        var post = VmLayer.Post(name, "virtual-machine", _fingerprint);
        var root = new Dictionary<string, string> { ["type"] = "disk", ["path"] = "/", ["pool"] = pool };
        if (size is not null)
        {
            root["size"] = size;
        }
        post.Devices = new() { ["root"] = root };
        return post;
    }

    /// <summary>What QEMU would do as libvirt-qemu: open the disk and its whole backing chain (read-only, shared).</summary>
    private static async Task AssertQemuUserCanOpenAsync(string disk)
    {
        var r = await ProcessRunner.RunAsync("setpriv", ["--reuid=libvirt-qemu", "--regid=libvirt-qemu", "--clear-groups",
            "qemu-img", "info", "-U", "--backing-chain", disk]);
        Assert.True(r.ExitCode == 0, $"libvirt-qemu cannot open {disk}: {r}");
    }

    private static async Task<string> InfoAsync(string disk)
    {
        var r = await ProcessRunner.RunAsync("qemu-img", ["info", "-U", disk]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.Stdout;
    }

    private async Task SetSizeAsync(string name, string pool, string size) =>
        await _layer.Manager.UpdateAsync(name, new InstancePut
        {
            Devices = new() { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = pool, ["size"] = size } },
        }, patch: true, _ => { }, Ct);

    [Theory]
    [InlineData("dir")]
    [InlineData("btrfs")]
    public async Task A_vm_volume_is_a_qcow2_disk_with_the_images_boot_files_and_follows_size_snapshots_restore_and_rename(string driver)
    {
        var pool = driver == "dir" ? _layer.DirPool : _btrfs;
        var name = "vv-" + driver;
        await _layer.CreateAsync(Post(name, pool, size: "128MiB"));
        var disk = Disk(pool, name);
        var image = Path.Combine(PoolDir(pool), "images", _fingerprint, "root.img");

        // The layout the VM driver reads: root.img (qcow2), metadata.yaml, boot/{vmlinuz,initrd.img,cmdline}.
        var volume = Path.GetDirectoryName(disk)!;
        foreach (var f in new[] { "metadata.yaml", "boot/vmlinuz", "boot/initrd.img", "boot/cmdline" })
        {
            Assert.True(File.Exists(Path.Combine(volume, f)), f);
        }
        Assert.Equal(128L << 20, VmDisk.VirtualSize(disk));
        if (driver == "dir")
        {
            Assert.Equal(image, VmDisk.BackingFile(disk)); // an overlay: created in milliseconds, shares the image's blocks
            Assert.Contains("backing file format: qcow2", await InfoAsync(disk));
        }
        else
        {
            Assert.Null(VmDisk.BackingFile(disk)); // a copy-on-write snapshot of the image's own disk
        }
        await AssertQemuUserCanOpenAsync(disk);

        // Snapshot at 128MiB, grow to 256MiB, restore: the disk is as it was at the snapshot.
        await _layer.Manager.SnapshotAsync(name, "s0", null, Ct);
        await SetSizeAsync(name, pool, "256MiB");
        Assert.Equal(256L << 20, VmDisk.VirtualSize(disk));
        var shrink = await Assert.ThrowsAsync<BadRequestException>(() => SetSizeAsync(name, pool, "64MiB"));
        Assert.Contains("can only grow", shrink.Message);
        Assert.Equal(256L << 20, VmDisk.VirtualSize(disk));
        await _layer.Manager.RestoreAsync(name, "s0", Ct);
        Assert.Equal(128L << 20, VmDisk.VirtualSize(disk));
        await AssertQemuUserCanOpenAsync(disk);

        // Rename: the volume and its snapshots move; the disk still opens (an overlay's backing path is absolute).
        await _layer.Manager.RenameAsync(name, name + "-r", Ct);
        var renamed = Disk(pool, name + "-r");
        Assert.False(File.Exists(disk));
        await AssertQemuUserCanOpenAsync(renamed);
        Assert.True(File.Exists(Path.Combine(PoolDir(pool), "virtual-machines-snapshots", name + "-r", "s0", "root.img")));
        await _layer.Manager.DeleteSnapshotAsync(name + "-r", "s0", Ct);
        await _layer.Manager.DeleteAsync(name + "-r", Ct);
        Assert.False(Directory.Exists(Path.GetDirectoryName(renamed)));
    }

    [Fact]
    public async Task On_dir_the_image_volume_stays_while_an_overlay_backs_onto_it_and_goes_with_the_last()
    {
        var fp = await _layer.ImportAsync(VmTestImage.Meta, VmTestImage.Rootfs); // the split image: its own fingerprint
        var post = VmLayer.Post("vv-keep", "virtual-machine", fp);
        await _layer.CreateAsync(post);
        await _layer.Manager.SnapshotAsync("vv-keep", "s0", null, Ct);
        var imageVolume = Path.Combine(PoolDir(_layer.DirPool), "images", fp);
        Assert.Equal(Path.Combine(imageVolume, "root.img"), VmDisk.BackingFile(Disk(_layer.DirPool, "vv-keep")));
        // QEMU (libvirt-qemu) reaches the image volume; nobody can list images/.
        Assert.Equal("711", (await ProcessRunner.RunAsync("stat", ["-c", "%a", Path.GetDirectoryName(imageVolume)!])).Stdout.Trim());

        await _layer.Images.DeleteAsync(fp, Ct);
        Assert.True(File.Exists(Path.Combine(imageVolume, "root.img")), "the image volume went while a VM backs onto it");
        await AssertQemuUserCanOpenAsync(Disk(_layer.DirPool, "vv-keep"));

        await _layer.Manager.DeleteAsync("vv-keep", Ct); // the VM and its snapshot: the last users
        Assert.False(Directory.Exists(imageVolume));
    }
}
