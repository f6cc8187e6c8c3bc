using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hyperlxd.Tests.Images;

/// <summary>
/// A simplestreams image server on 127.0.0.1 serving the busybox split image (metadata + squashfs)
/// under the alias busybox/edge and the unified tarball as lxd_combined under busybox/combined.
/// With <c>dropOnce</c>, the first download of each file stops halfway (the connection is aborted),
/// so the client must resume with a Range request.
/// </summary>
public sealed class SimplestreamsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HashSet<string> _dropped = new();

    public string Url { get; }
    public string SplitFingerprint { get; }
    public string CombinedFingerprint { get; }
    public List<string> RangeRequests { get; } = new();

    private SimplestreamsServer(WebApplication app, string url, string split, string combined)
    {
        _app = app;
        Url = url;
        SplitFingerprint = split;
        CombinedFingerprint = combined;
    }

    private static string Sha(params string[] paths)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in paths)
        {
            h.AppendData(File.ReadAllBytes(p));
        }
        return Convert.ToHexStringLower(h.GetCurrentHash());
    }

    public static async Task<SimplestreamsServer> StartAsync(bool dropOnce)
    {
        var files = new Dictionary<string, string>
        {
            ["/images/busybox/meta.tar.gz"] = ImageFixture.BusyboxMeta,
            ["/images/busybox/root.squashfs"] = ImageFixture.BusyboxSquashfs,
            ["/images/busybox/combined.tar.gz"] = ImageFixture.Busybox,
        };
        object Item(string ftype, string path, Dictionary<string, string>? extra = null)
        {
            var d = new Dictionary<string, object> { ["ftype"] = ftype, ["path"] = path.TrimStart('/'), ["sha256"] = Sha(files[path]), ["size"] = new FileInfo(files[path]).Length };
            foreach (var (k, v) in extra ?? new())
            {
                d[k] = v;
            }
            return d;
        }
        var split = Sha(ImageFixture.BusyboxMeta, ImageFixture.BusyboxSquashfs);
        var combined = Sha(ImageFixture.Busybox);
        var products = new Dictionary<string, object>
        {
            ["content_id"] = "images",
            ["format"] = "products:1.0",
            ["products"] = new Dictionary<string, object>
            {
                ["busybox:edge:amd64:default"] = new Dictionary<string, object>
                {
                    ["aliases"] = "busybox/edge,busybox",
                    ["arch"] = "amd64",
                    ["os"] = "busybox",
                    ["release"] = "edge",
                    ["versions"] = new Dictionary<string, object>
                    {
                        ["20261125_00:00"] = new Dictionary<string, object> { ["items"] = new Dictionary<string, object>() },
                        ["20261126_00:00"] = new Dictionary<string, object>
                        {
                            ["items"] = new Dictionary<string, object>
                            {
                                ["lxd.tar.xz"] = Item("lxd.tar.xz", "/images/busybox/meta.tar.gz", new() { ["combined_squashfs_sha256"] = split }),
                                ["root.squashfs"] = Item("squashfs", "/images/busybox/root.squashfs"),
                            },
                        },
                    },
                },
                ["busybox:combined:amd64:default"] = new Dictionary<string, object>
                {
                    ["aliases"] = "busybox/combined",
                    ["arch"] = "amd64",
                    ["versions"] = new Dictionary<string, object>
                    {
                        ["1"] = new Dictionary<string, object>
                        {
                            ["items"] = new Dictionary<string, object> { ["lxd_combined.tar.gz"] = Item("lxd_combined.tar.gz", "/images/busybox/combined.tar.gz") },
                        },
                    },
                },
            },
        };
        var index = new Dictionary<string, object>
        {
            ["format"] = "index:1.0",
            ["index"] = new Dictionary<string, object>
            {
                ["images"] = new Dictionary<string, object>
                {
                    ["datatype"] = "image-downloads",
                    ["path"] = "streams/v1/images.json",
                    ["format"] = "products:1.0",
                    ["products"] = new[] { "busybox:edge:amd64:default", "busybox:combined:amd64:default" },
                },
            },
        };

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = (SimplestreamsServer?)null;
        // Reflection-based JSON is fine in a test: only the daemon is AOT-compiled.
        app.MapGet("/streams/v1/index.json", () => Results.Text(JsonSerializer.Serialize(index), "application/json"));
        app.MapGet("/streams/v1/images.json", () => Results.Text(JsonSerializer.Serialize(products), "application/json"));
        app.MapGet("/images/busybox/{file}", async ctx =>
        {
            var path = ctx.Request.Path.Value!;
            if (!files.TryGetValue(path, out var file))
            {
                ctx.Response.StatusCode = 404;
                return;
            }
            if (ctx.Request.Headers.Range.Count > 0)
            {
                lock (server!.RangeRequests)
                {
                    server.RangeRequests.Add($"{path} {ctx.Request.Headers.Range}");
                }
            }
            bool drop;
            lock (server!._dropped)
            {
                drop = dropOnce && new FileInfo(file).Length > 1024 && server._dropped.Add(path);
            }
            if (drop)
            {
                var bytes = await File.ReadAllBytesAsync(file);
                ctx.Response.ContentLength = bytes.Length;
                await ctx.Response.Body.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
                await ctx.Response.Body.FlushAsync();
                ctx.Abort();
                return;
            }
            await Results.File(file, "application/octet-stream", enableRangeProcessing: true).ExecuteAsync(ctx);
        });
        await app.StartAsync();
        var address = app.Services.GetService(typeof(IServer)) is IServer s ? s.Features.Get<IServerAddressesFeature>()!.Addresses.First() : throw new InvalidOperationException();
        server = new SimplestreamsServer(app, address, split, combined);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
