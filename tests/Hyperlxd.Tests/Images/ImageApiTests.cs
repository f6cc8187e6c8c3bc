using System.Net;
using System.Security.Cryptography;
using Hyperlxd.Tests.Infrastructure;
using static Hyperlxd.Tests.Images.TarBuilder;

namespace Hyperlxd.Tests.Images;

[Collection(ImageCollection.Name)]
public sealed class ImageApiTests(ImageFixture fixture)
{
    private ApiClient Api => fixture.Daemon.Api;

    private static string Sha256(params byte[][] parts)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in parts)
        {
            h.AppendData(p);
        }
        return Convert.ToHexStringLower(h.GetCurrentHash());
    }

    [Fact]
    public async Task Unified_upload_show_update_alias_export_delete()
    {
        var data = await File.ReadAllBytesAsync(ImageFixture.Busybox);
        var fp = Sha256(data);
        var r = await fixture.UploadAsync(data, new()
        {
            ["X-LXD-public"] = "true",
            ["X-LXD-properties"] = "extra=1&description=My%20busybox",
        }, "busybox.tar.gz");
        Assert.Equal(HttpStatusCode.Accepted, r.Status);
        var op = await Api.GetAsync(r.Headers.Location!.ToString());
        Assert.Equal(fp, op.Metadata.GetProperty("metadata").GetProperty("fingerprint").GetString());
        Assert.Equal(data.Length, op.Metadata.GetProperty("metadata").GetProperty("size").GetInt64());

        var image = (await Api.GetAsync("/1.0/images/" + fp[..12])).Metadata;
        Assert.Equal(fp, image.GetProperty("fingerprint").GetString());
        Assert.Equal("busybox.tar.gz", image.GetProperty("filename").GetString());
        Assert.Equal("x86_64", image.GetProperty("architecture").GetString());
        Assert.Equal("container", image.GetProperty("type").GetString());
        Assert.True(image.GetProperty("public").GetBoolean());
        Assert.Equal("My busybox", image.GetProperty("properties").GetProperty("description").GetString());
        Assert.Equal("busybox", image.GetProperty("properties").GetProperty("os").GetString());
        Assert.Equal("1", image.GetProperty("properties").GetProperty("extra").GetString());
        Assert.Equal("[\"default\"]", image.GetProperty("profiles").GetRawText());
        foreach (var field in new[] { "aliases", "cached", "auto_update", "created_at", "uploaded_at", "expires_at", "last_used_at", "size" })
        {
            Assert.True(image.TryGetProperty(field, out _), field);
        }

        // Same bytes again: LXD's conflict message.
        r = await fixture.UploadAsync(data);
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        Assert.Equal("Image with same fingerprint already exists", r.Error);

        // PATCH merges properties, PUT replaces; pylxd-style read-only fields are ignored.
        Assert.Equal(HttpStatusCode.OK, (await Api.PatchAsync("/1.0/images/" + fp, """{"properties":{"k":"v"},"auto_update":true}""")).Status);
        image = (await Api.GetAsync("/1.0/images/" + fp)).Metadata;
        Assert.Equal("v", image.GetProperty("properties").GetProperty("k").GetString());
        Assert.Equal("busybox", image.GetProperty("properties").GetProperty("os").GetString());
        Assert.True(image.GetProperty("auto_update").GetBoolean());
        r = await Api.PutAsync("/1.0/images/" + fp, $$"""{"fingerprint":"{{fp}}","size":1,"properties":{"only":"this"},"public":false}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);
        image = (await Api.GetAsync("/1.0/images/" + fp)).Metadata;
        Assert.Equal("""{"only":"this"}""", image.GetProperty("properties").GetRawText());
        Assert.False(image.GetProperty("public").GetBoolean());
        // Unknown fields are ignored as LXD does (issue 9 #17); a known field of the wrong type is still a 400 naming it.
        Assert.Equal(HttpStatusCode.OK, (await Api.PutAsync("/1.0/images/" + fp, """{"propertiez":{},"properties":{"only":"this"}}""")).Status);
        r = await Api.PutAsync("/1.0/images/" + fp, """{"properties":"not-a-map"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("properties", r.Error);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.PatchAsync("/1.0/images/" + fp, """{"profiles":["nope"]}""")).Status);

        // Aliases: create, show, retarget checks, rename, duplicate, delete.
        Assert.Equal(HttpStatusCode.OK, (await Api.PostAsync("/1.0/images/aliases", $$"""{"name":"bb","target":"{{fp[..8]}}","description":"d"}""")).Status);
        var alias = (await Api.GetAsync("/1.0/images/aliases/bb")).Metadata;
        Assert.Equal(fp, alias.GetProperty("target").GetString());
        Assert.Equal("container", alias.GetProperty("type").GetString());
        Assert.Equal("bb", (await Api.GetAsync("/1.0/images/" + fp)).Metadata.GetProperty("aliases")[0].GetProperty("name").GetString());
        r = await Api.PostAsync("/1.0/images/aliases", $$"""{"name":"bb","target":"{{fp}}"}""");
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        Assert.Contains("\"bb\" already exists", r.Error);
        r = await Api.PostAsync("/1.0/images/aliases", """{"name":"x","target":"0000"}""");
        Assert.Equal(HttpStatusCode.NotFound, r.Status);
        Assert.Equal(HttpStatusCode.OK, (await Api.PatchAsync("/1.0/images/aliases/bb", """{"description":"new"}""")).Status);
        Assert.Equal("new", (await Api.GetAsync("/1.0/images/aliases/bb")).Metadata.GetProperty("description").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Api.PostAsync("/1.0/images/aliases/bb", """{"name":"bb2"}""")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/images/aliases/bb")).Status);
        var list = (await Api.GetAsync("/1.0/images/aliases")).Metadata;
        Assert.Equal("/1.0/images/aliases/bb2", list[0].GetString());

        // Export: the original bytes.
        using (var resp = await Api.RawAsync($"/1.0/images/{fp}/export"))
        {
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            Assert.Contains("busybox.tar.gz", resp.Content.Headers.ContentDisposition?.ToString() ?? string.Join(",", resp.Content.Headers.GetValues("Content-Disposition")));
            Assert.Equal(fp, Sha256(await resp.Content.ReadAsByteArrayAsync()));
        }

        r = await Api.DeleteAsync("/1.0/images/" + fp);
        Assert.Equal(HttpStatusCode.Accepted, r.Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/images/" + fp)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/images/aliases/bb2")).Status);
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Split_uploads_tarball_squashfs_and_vm_disk_fingerprint_is_sha256_of_both()
    {
        var meta = await File.ReadAllBytesAsync(ImageFixture.BusyboxMeta);
        foreach (var (rootfs, part, type) in new[]
        {
            (await File.ReadAllBytesAsync(ImageFixture.BusyboxRootfs), "rootfs", "container"),
            (await File.ReadAllBytesAsync(ImageFixture.BusyboxSquashfs), "rootfs", "container"),
            ([(byte)'Q', (byte)'F', (byte)'I', 0xfb, .. new byte[4092]], "rootfs.img", "virtual-machine"),
        })
        {
            var r = await fixture.UploadSplitAsync(meta, rootfs, part);
            Assert.True(r.Status == HttpStatusCode.Accepted, r.ToString());
            var fp = Sha256(meta, rootfs);
            var image = (await Api.GetAsync("/1.0/images/" + fp)).Metadata;
            Assert.Equal(type, image.GetProperty("type").GetString());
            Assert.Equal(meta.Length + rootfs.Length, image.GetProperty("size").GetInt64());
            Assert.True(File.Exists(Path.Combine(fixture.ImagesDir, fp + ".rootfs")));

            // Export is multipart with the two original files.
            using var resp = await Api.RawAsync($"/1.0/images/{fp}/export");
            var boundary = resp.Content.Headers.ContentType!.Parameters.First(p => p.Name == "boundary").Value!;
            var reader = new Microsoft.AspNetCore.WebUtilities.MultipartReader(boundary, await resp.Content.ReadAsStreamAsync());
            var parts = new List<byte[]>();
            while (await reader.ReadNextSectionAsync() is { } section)
            {
                using var ms = new MemoryStream();
                await section.Body.CopyToAsync(ms);
                parts.Add(ms.ToArray());
            }
            Assert.Equal(fp, Sha256([.. parts]));
            Assert.Equal(HttpStatusCode.Accepted, (await Api.DeleteAsync("/1.0/images/" + fp)).Status);
        }
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Theory]
    [InlineData("xz", "-9")]
    [InlineData("zstd", "-q")]
    [InlineData("bzip2", "-9")]
    [InlineData("cat", "")]
    public async Task Unified_upload_in_every_compression(string tool, string flag)
    {
        var tar = Path.Combine(Repo.TempDir("hlx-img-comp-"), "image");
        try
        {
            var r = await ProcessRunner.RunAsync("sh", new[] { "-c", $"gzip -dc '{ImageFixture.Busybox}' | {tool} {flag} > '{tar}'" });
            Assert.True(r.ExitCode == 0, r.ToString());
            var data = await File.ReadAllBytesAsync(tar);
            var resp = await fixture.UploadAsync(data);
            Assert.True(resp.Status == HttpStatusCode.Accepted, resp.ToString());
            Assert.Equal(HttpStatusCode.Accepted, (await Api.DeleteAsync("/1.0/images/" + Sha256(data))).Status);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(tar)!, true);
        }
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    public static TheoryData<string, byte[], int, string> BadUnified()
    {
        // Built here, not read from artifacts/: theory data is made before any fixture runs.
        var random = new Random(42);
        var big = Unified(Reg("rootfs/big", string.Concat(Enumerable.Range(0, 20000).Select(_ => random.Next().ToString("x")))));
        return new()
        {
            { "dotdot", Unified(Reg("rootfs/../../x", "x")), 400, "escapes the image root" },
            { "absolute-dotdot", Unified(Reg("/../x", "x")), 400, "escapes the image root" },
            { "through-symlink", Unified(Symlink("rootfs/etc2", "/etc"), Reg("rootfs/etc2/shadow", "x")), 400, "goes through the symlink" },
            { "absolute-through-symlink", Unified(Symlink("/rootfs/etc2", "/etc"), Reg("/rootfs/etc2/shadow", "x")), 400, "goes through the symlink" },
            { "symlink-to-root-then-member", Unified(Symlink("rootfs/r", "/"), Reg("rootfs/r/etc/shadow", "x")), 400, "goes through the symlink" },
            { "symlink-over-dir", Unified(Symlink("rootfs/etc", "/etc")), 400, "replaces the non-empty directory" },
            { "file-replaced-by-symlink-out", Unified(Reg("rootfs/f", "x"), Symlink("rootfs/f", "../../../etc")), 400, "points outside the image" },
            { "file-replaced-by-symlink-then-member", Unified(Reg("rootfs/f", "x"), Symlink("rootfs/f", "/"), Reg("rootfs/f/etc/shadow", "x")), 400, "goes through the symlink" },
            { "dir-replaced-by-symlink-then-member", Unified(Dir("rootfs/d"), Symlink("rootfs/d", "/etc"), Reg("rootfs/d/shadow", "x")), 400, "goes through the symlink" },
            { "member-under-a-file", Unified(Reg("rootfs/f", "x"), Reg("rootfs/f/x", "x")), 400, "which is not a directory" },
            { "hardlink-to-replaced-symlink", Unified(Reg("rootfs/t", "x"), Symlink("rootfs/t", "/etc/shadow"), Hardlink("rootfs/h", "rootfs/t")), 400, "points outside the image" },
            { "hardlink-to-dir", Unified(Hardlink("rootfs/h", "rootfs/etc")), 400, "points outside the image" },
            { "relative-symlink-out", Unified(Symlink("rootfs/up", "../../../etc")), 400, "points outside the image" },
            { "hardlink-absolute", Unified(Hardlink("rootfs/h", "/etc/shadow")), 400, "points outside the image" },
            { "hardlink-absolute-dotdot", Unified(Hardlink("rootfs/h", "/../etc/shadow")), 400, "escapes the image root" },
            { "hardlink-outside", Unified(Hardlink("rootfs/h", "../etc/shadow")), 400, "escapes the image root" },
            { "hardlink-unknown", Unified(Hardlink("rootfs/h", "rootfs/etc/shadow")), 400, "points outside the image" },
            { "char-device", Unified(CharDevice("rootfs/null")), 400, "device node \"rootfs/null\" is not allowed" },
            { "no-metadata", Gzip(Tar(Dir("rootfs"), Reg("rootfs/x", "x"))), 400, "metadata.yaml is missing" },
            { "garbled-metadata", Gzip(Tar(Reg("metadata.yaml", "architecture: [x86_64\n  : :\n"), Dir("rootfs"))), 400, "Invalid metadata.yaml" },
            { "z80", Gzip(Tar(Reg("metadata.yaml", "architecture: z80\n"), Dir("rootfs"))), 400, "unknown architecture \"z80\"" },
            { "no-rootfs", Gzip(Tar(Reg("metadata.yaml", GoodMetadata))), 400, "neither rootfs/ nor rootfs.img" },
            { "truncated-gzip", big[..(big.Length / 2)], 400, "Invalid image tarball" },
            { "not-a-tarball", "hello, this is not an image"u8.ToArray(), 400, "not a tarball" },
        };
    }

    [Theory]
    [MemberData(nameof(BadUnified))]
    public async Task Bad_unified_uploads_are_refused_and_leave_nothing(string name, byte[] data, int status, string message)
    {
        var before = await fixture.StoreStateAsync();
        var r = await fixture.UploadAsync(data, filename: name + ".tar.gz");
        Assert.True((int)r.Status == status, $"{name}: {r}");
        Assert.Contains(message, r.Error);
        Assert.Equal(before, await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task An_upload_cut_off_by_the_client_leaves_nothing()
    {
        var before = await fixture.StoreStateAsync();
        var data = await File.ReadAllBytesAsync(ImageFixture.Busybox);
        using (var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(fixture.Daemon.Socket));
            var head = $"POST /1.0/images HTTP/1.1\r\nHost: unix.socket\r\nContent-Type: application/octet-stream\r\nX-LXD-filename: cut.tar.gz\r\nContent-Length: {data.Length}\r\n\r\n";
            await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(head));
            await socket.SendAsync(data.AsMemory(0, data.Length / 2));
            // Wait until the daemon has the temp file, then hang up mid-body.
            for (var i = 0; i < 500 && !Directory.GetFiles(fixture.ImagesDir, ".upload-*").Any(f => new FileInfo(f).Length > 0); i++)
            {
                await Task.Delay(20);
            }
        }
        // The daemon notices the reset and removes the partial file; poll until it has.
        for (var i = 0; i < 500 && await fixture.StoreStateAsync() != before; i++)
        {
            await Task.Delay(20);
        }
        Assert.Equal(before, await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Truncated_xz_and_corrupt_zstd_are_refused_and_leave_nothing()
    {
        var before = await fixture.StoreStateAsync();
        var dir = Repo.TempDir("hlx-img-bad-");
        try
        {
            foreach (var tool in new[] { "xz", "zstd -q" })
            {
                var path = Path.Combine(dir, "img");
                await ProcessRunner.RunAsync("sh", new[] { "-c", $"gzip -dc '{ImageFixture.Busybox}' | {tool} > '{path}'" });
                var data = await File.ReadAllBytesAsync(path);
                var r = await fixture.UploadAsync(data[..(data.Length * 2 / 3)]);
                Assert.True(r.Status == HttpStatusCode.BadRequest, $"{tool}: {r}");
                Assert.Contains("Invalid image tarball", r.Error);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
        Assert.Equal(before, await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Split_with_a_mismatching_fingerprint_or_bad_parts_is_refused_and_leaves_nothing()
    {
        var before = await fixture.StoreStateAsync();
        var meta = await File.ReadAllBytesAsync(ImageFixture.BusyboxMeta);
        var rootfs = await File.ReadAllBytesAsync(ImageFixture.BusyboxRootfs);
        var r = await fixture.UploadSplitAsync(meta, rootfs, headers: new() { ["X-LXD-fingerprint"] = new string('a', 64) });
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("Fingerprint mismatch", r.Error);

        r = await fixture.UploadSplitAsync(meta, Unified(Hardlink("h", "/etc/shadow")));
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("points outside the image", r.Error);

        r = await fixture.UploadSplitAsync(meta, "hsqs garbage that is no squashfs at all"u8.ToArray());
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("Invalid squashfs rootfs", r.Error);

        r = await fixture.UploadSplitAsync(meta, rootfs, rootfsPart: "kernel");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("unexpected part \"kernel\"", r.Error);
        Assert.Equal(before, await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Uploads_over_images_max_upload_size_get_413_and_leave_nothing()
    {
        var before = await fixture.StoreStateAsync();
        var data = await File.ReadAllBytesAsync(ImageFixture.Busybox);
        Assert.Equal(HttpStatusCode.OK, (await Api.PatchAsync("/1.0", """{"config":{"images.max_upload_size":"500KiB"}}""")).Status);
        try
        {
            // With Content-Length: refused before reading.
            var r = await fixture.UploadAsync(data);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.Status);
            Assert.Contains("images.max_upload_size", r.Error);

            // Chunked (no length): refused while streaming, the partial temp file removed.
            var req = new Dictionary<string, string> { ["Transfer-Encoding"] = "chunked" };
            using var chunked = new ChunkedContent(data);
            r = await Api.SendContentAsync(HttpMethod.Post, "/1.0/images", chunked, req);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.Status);
        }
        finally
        {
            await Api.PatchAsync("/1.0", """{"config":{"images.max_upload_size":""}}""");
        }
        Assert.Equal(before, await fixture.StoreStateAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await Api.PatchAsync("/1.0", """{"config":{"images.max_upload_size":"huge"}}""")).Status);
    }

    /// <summary>Content without a known length, so HttpClient sends it chunked.</summary>
    private sealed class ChunkedContent(byte[] data) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(data).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    [Fact]
    public async Task An_upload_whose_alias_already_exists_is_refused_and_leaves_nothing()
    {
        var first = Unified(Reg("rootfs/one", "1"));
        Assert.Equal(HttpStatusCode.Accepted, (await fixture.UploadAsync(first, new() { ["X-LXD-aliases"] = "alias=taken" })).Status);
        var before = await fixture.StoreStateAsync();
        var r = await fixture.UploadAsync(Unified(Reg("rootfs/two", "2")), new() { ["X-LXD-aliases"] = "alias=taken" });
        Assert.Equal(HttpStatusCode.Conflict, r.Status);
        Assert.Equal("Alias \"taken\" already exists", r.Error);
        Assert.Equal(before, await fixture.StoreStateAsync());
        r = await Api.PostAsync("/1.0/images/aliases/taken", """{"name":"a/b"}""");
        Assert.Equal(HttpStatusCode.BadRequest, r.Status);
        Assert.Contains("Invalid alias name", r.Error);
        await fixture.DeleteAllAsync();
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }

    [Fact]
    public async Task Lookups_by_prefix_and_ambiguous_prefixes()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/images/zzzz")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await Api.GetAsync("/1.0/images/abcdef")).Status);
        // Two images whose fingerprints share the empty prefix "": the shortest ambiguous case is
        // found by uploading two images and taking their common prefix (possibly empty: then skip).
        var a = Unified(Reg("rootfs/a", "a"));
        var b = Unified(Reg("rootfs/b", "b"));
        await fixture.UploadAsync(a);
        await fixture.UploadAsync(b);
        var fa = Sha256(a);
        var fb = Sha256(b);
        var common = new string(fa.Zip(fb).TakeWhile(p => p.First == p.Second).Select(p => p.First).ToArray());
        if (common.Length > 0)
        {
            var r = await Api.GetAsync("/1.0/images/" + common);
            Assert.Equal(HttpStatusCode.BadRequest, r.Status);
            Assert.Contains("More than one image matches", r.Error);
        }
        Assert.Equal(fa, (await Api.GetAsync("/1.0/images/" + fa[..(common.Length + 1)])).Metadata.GetProperty("fingerprint").GetString());
        await fixture.DeleteAllAsync();
        Assert.Equal("files=[] images=0 aliases=0", await fixture.StoreStateAsync());
    }
}
