using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Images;

/// <summary>
/// VM images through the API: the built VM test image (unified and split) is a virtual-machine image;
/// a disk that is not a self-contained qcow2 and any boot/ entry other than vmlinuz, initrd.img and
/// cmdline are a 400 naming the problem, and leave nothing in the store.
/// </summary>
[Collection(ImageCollection.Name)]
public sealed class VmImageTests(ImageFixture fixture) : IAsyncLifetime
{
    private ApiClient Api => fixture.Daemon.Api;

    private static readonly byte[] Qcow2Head = [(byte)'Q', (byte)'F', (byte)'I', 0xfb, 0, 0, 0, 3];

    public Task InitializeAsync() => VmTestImage.EnsureBuiltAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static string Sha256(params byte[][] parts)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in parts)
        {
            h.AppendData(p);
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>A gzipped tarball of (name, content) regular files; a null content is a directory.</summary>
    private static byte[] TarGz(params (string Name, byte[]? Content)[] entries)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        using (var w = new TarWriter(gz, TarEntryFormat.Gnu))
        {
            foreach (var (name, content) in entries)
            {
                var entry = new GnuTarEntry(content is null ? TarEntryType.Directory : TarEntryType.RegularFile, name)
                {
                    Mode = content is null ? (UnixFileMode)0x1ed : (UnixFileMode)0x1a4,
                };
                if (content is not null)
                {
                    entry.DataStream = new MemoryStream(content);
                }
                w.WriteEntry(entry);
            }
        }
        return ms.ToArray();
    }

    private static (string, byte[]?) Meta => ("metadata.yaml", Encoding.UTF8.GetBytes(TarBuilder.GoodMetadata));

    /// <summary>A qcow2 header that names a backing file (offset 8: where its name is, 16: its length).</summary>
    private static byte[] Qcow2WithBacking()
    {
        var head = new byte[4096];
        Qcow2Head.CopyTo(head, 0);
        head[15] = 200; // backing_file_offset = 200
        head[19] = 11;  // backing_file_size = 11
        Encoding.ASCII.GetBytes("/etc/shadow").CopyTo(head, 200);
        return head;
    }

    [Fact]
    public async Task The_built_vm_image_is_a_virtual_machine_image_unified_and_split()
    {
        var unified = await File.ReadAllBytesAsync(VmTestImage.Unified);
        var r = await fixture.UploadAsync(unified, filename: "vm.tar.gz");
        Assert.True(r.Status == HttpStatusCode.Accepted, r.ToString());
        var fp = Sha256(unified);
        var image = (await Api.GetAsync("/1.0/images/" + fp)).Metadata;
        Assert.Equal("virtual-machine", image.GetProperty("type").GetString());
        Assert.Equal("x86_64", image.GetProperty("architecture").GetString());
        Assert.Equal("busybox", image.GetProperty("properties").GetProperty("os").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await Api.DeleteAsync("/1.0/images/" + fp)).Status);

        var meta = await File.ReadAllBytesAsync(VmTestImage.Meta);
        var disk = await File.ReadAllBytesAsync(VmTestImage.Rootfs);
        r = await fixture.UploadSplitAsync(meta, disk, "rootfs.img");
        Assert.True(r.Status == HttpStatusCode.Accepted, r.ToString());
        fp = Sha256(meta, disk);
        Assert.Equal("virtual-machine", (await Api.GetAsync("/1.0/images/" + fp)).Metadata.GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await Api.DeleteAsync("/1.0/images/" + fp)).Status);
    }

    public static TheoryData<string, byte[], string> BadVmImages()
    {
        var disk = new byte[4096];
        Qcow2Head.CopyTo(disk, 0);
        var kernel = new byte[1024];
        return new()
        {
            { "raw-disk", TarGz(Meta, ("rootfs.img", new byte[4096])), "rootfs.img is not a qcow2 disk image" },
            { "backing-file", TarGz(Meta, ("rootfs.img", Qcow2WithBacking())), "rootfs.img has a backing file" },
            { "boot-traversal", TarGz(Meta, ("rootfs.img", disk), ("boot/../../etc/x", kernel)), "escapes the image root" },
            { "boot-other-file", TarGz(Meta, ("rootfs.img", disk), ("boot", null), ("boot/grub.cfg", kernel)), "\"boot/grub.cfg\" is not allowed under boot/" },
            { "boot-subdir", TarGz(Meta, ("rootfs.img", disk), ("boot/efi", null)), "\"boot/efi\" is not allowed under boot/" },
            { "initrd-without-kernel", TarGz(Meta, ("rootfs.img", disk), ("boot/initrd.img", kernel)), "need boot/vmlinuz" },
            { "cmdline-two-lines", TarGz(Meta, ("rootfs.img", disk), ("boot/vmlinuz", kernel), ("boot/cmdline", "a\nb\n"u8.ToArray())), "boot/cmdline must be one line" },
            { "boot-in-container-image", TarGz(Meta, ("rootfs", null), ("boot/vmlinuz", kernel)), "only allowed in virtual-machine images" },
        };
    }

    [Theory]
    [MemberData(nameof(BadVmImages))]
    public async Task Bad_vm_images_are_a_400_naming_the_problem_and_leave_nothing(string name, byte[] data, string message)
    {
        var before = await fixture.StoreStateAsync();
        var r = await fixture.UploadAsync(data, filename: name + ".tar.gz");
        Assert.True(r.Status == HttpStatusCode.BadRequest, $"{name}: {r}");
        Assert.Contains(message, r.Error);
        Assert.Equal(before, await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task A_split_vm_image_whose_disk_is_not_qcow2_is_a_400()
    {
        var before = await fixture.StoreStateAsync();
        var meta = await File.ReadAllBytesAsync(VmTestImage.Meta);
        var r = await fixture.UploadSplitAsync(meta, await File.ReadAllBytesAsync(ImageFixture.BusyboxRootfs), "rootfs.img");
        Assert.True(r.Status == HttpStatusCode.BadRequest, r.ToString());
        Assert.Contains("rootfs.img is not a qcow2 disk image", r.Error);
        // The VM metadata (with boot/) over a container rootfs is refused as well.
        r = await fixture.UploadSplitAsync(meta, await File.ReadAllBytesAsync(ImageFixture.BusyboxRootfs), "rootfs");
        Assert.True(r.Status == HttpStatusCode.BadRequest, r.ToString());
        Assert.Contains("only allowed in virtual-machine images", r.Error);
        Assert.Equal(before, await fixture.StoreStateAsync());
    }
}
