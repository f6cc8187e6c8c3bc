using System.Formats.Tar;
using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Images;

/// <summary>
/// A daemon of its own for the image tests, so "nothing was left behind" can be checked against
/// the whole image store, and the busybox image from artifacts/images (built when missing).
/// </summary>
public sealed class ImageFixture : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;
    public string ImagesDir => Path.Combine(Daemon.Dir, "images");

    public static string ArtifactsDir => Path.Combine(Repo.Root, "artifacts", "images");

    public static string Busybox => Path.Combine(ArtifactsDir, "busybox.tar.gz");
    public static string BusyboxMeta => Path.Combine(ArtifactsDir, "busybox.meta.tar.gz");
    public static string BusyboxRootfs => Path.Combine(ArtifactsDir, "busybox.rootfs.tar.gz");
    public static string BusyboxSquashfs => Path.Combine(ArtifactsDir, "busybox.rootfs.squashfs");

    private static readonly SemaphoreSlim BuildLock = new(1, 1);

    /// <summary>`dotnet cake --target=Images` builds these; a plain `dotnet test` builds them here.</summary>
    public static async Task EnsureImagesAsync()
    {
        await BuildLock.WaitAsync();
        try
        {
            if (!File.Exists(BusyboxSquashfs))
            {
                var r = await ProcessRunner.RunAsync("bash", new[] { Path.Combine(Repo.Root, "images", "busybox", "build.sh"), ArtifactsDir });
                Assert.True(r.ExitCode == 0, r.ToString());
            }
        }
        finally
        {
            BuildLock.Release();
        }
    }

    public async Task InitializeAsync()
    {
        await EnsureImagesAsync();
        // On the host's network: RemoteImageTests' simplestreams server listens on this process's 127.0.0.1.
        Daemon = await DaemonProcess.StartAsync(hostNetwork: true);
    }

    public async Task DisposeAsync() => await Daemon.DisposeAsync();

    /// <summary>Files in the image store and rows in the database: what a failed upload must not change.</summary>
    public async Task<string> StoreStateAsync()
    {
        var files = Directory.Exists(ImagesDir) ? string.Join(",", Directory.GetFiles(ImagesDir).Select(Path.GetFileName).Order()) : "";
        var rows = await Daemon.QueryScalarAsync("SELECT count(*) FROM images");
        var aliases = await Daemon.QueryScalarAsync("SELECT count(*) FROM image_aliases");
        return $"files=[{files}] images={rows} aliases={aliases}";
    }

    public Task<ApiResponse> UploadAsync(byte[] data, Dictionary<string, string>? headers = null, string filename = "image.tar.gz")
    {
        var content = new ByteArrayContent(data);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        var h = new Dictionary<string, string>(headers ?? new()) { ["X-LXD-filename"] = filename };
        return Daemon.Api.SendContentAsync(HttpMethod.Post, "/1.0/images", content, h);
    }

    public async Task<ApiResponse> UploadSplitAsync(byte[] meta, byte[] rootfs, string rootfsPart = "rootfs", Dictionary<string, string>? headers = null)
    {
        using var form = new MultipartFormDataContent();
#pragma warning disable CA2000 // the form owns its parts and disposes them
        form.Add(new ByteArrayContent(meta), "metadata", "meta.tar.gz");
        form.Add(new ByteArrayContent(rootfs), rootfsPart, "rootfs");
#pragma warning restore CA2000
        return await Daemon.Api.SendContentAsync(HttpMethod.Post, "/1.0/images", form, headers);
    }

    public async Task DeleteAllAsync()
    {
        foreach (var fp in (await Daemon.Api.GetAsync("/1.0/images")).Metadata.EnumerateArray().Select(e => e.GetString()!))
        {
            await Daemon.Api.DeleteAsync(fp);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ImageCollection : ICollectionFixture<ImageFixture>
{
    public const string Name = "image daemon";
}

/// <summary>Builds small (possibly malicious) image tarballs in memory.</summary>
public static class TarBuilder
{
    public const string GoodMetadata = "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: test image\n  os: test\n";

    public sealed record Entry(string Name, TarEntryType Type, string Content = "", string Link = "");

    public static Entry Reg(string name, string content) => new(name, TarEntryType.RegularFile, content);
    public static Entry Dir(string name) => new(name, TarEntryType.Directory);
    public static Entry Symlink(string name, string target) => new(name, TarEntryType.SymbolicLink, Link: target);
    public static Entry Hardlink(string name, string target) => new(name, TarEntryType.HardLink, Link: target);
    public static Entry CharDevice(string name) => new(name, TarEntryType.CharacterDevice);

    public static byte[] Tar(params Entry[] entries)
    {
        using var ms = new MemoryStream();
        using (var w = new TarWriter(ms, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (var e in entries)
            {
                var entry = new GnuTarEntry(e.Type, e.Name) { Mode = e.Type == TarEntryType.Directory ? (UnixFileMode)0x1ed : (UnixFileMode)0x1a4 };
                if (e.Type is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                {
                    entry.LinkName = e.Link;
                }
                if (e.Type == TarEntryType.CharacterDevice)
                {
                    entry.DeviceMajor = 1;
                    entry.DeviceMinor = 3;
                }
                if (e.Type == TarEntryType.RegularFile)
                {
                    entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(e.Content));
                }
                w.WriteEntry(entry);
            }
        }
        return ms.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(data);
        }
        return ms.ToArray();
    }

    /// <summary>A gzipped unified image: good metadata and a tiny rootfs, plus <paramref name="extra"/>.</summary>
    public static byte[] Unified(params Entry[] extra) =>
        Gzip(Tar([Reg("metadata.yaml", GoodMetadata), Dir("rootfs"), Dir("rootfs/etc"), Reg("rootfs/etc/hostname", "t\n"), .. extra]));
}
