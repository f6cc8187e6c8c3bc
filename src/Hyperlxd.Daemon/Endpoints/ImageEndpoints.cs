using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Hyperlxd.Images;
using Hyperlxd.Images.Tar;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Hyperlxd.Daemon.Endpoints;

/// <summary>
/// <c>/1.0/images</c>: upload (raw unified tarball or multipart split image, streamed to disk),
/// pull from a URL or a simplestreams server, show/update/delete, export. Aliases are in
/// <see cref="ImageAliasEndpoints"/>.
/// </summary>
public static partial class ImageEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/1.0/images", async ctx =>
        {
            var visible = await VisibleAsync(ctx);
            var list = (await ctx.Service<ImageStore>().ListAsync(ctx.RequestAborted)).Where(i => visible(i.Fingerprint)).Select(i => Display(ctx, i)).ToList();
            await Collection.Write(ctx, list, i => ProjectScope.Of(ctx).Url(Url(i.Fingerprint)), ApiJsonContext.Default.Image, ApiJsonContext.Default.ListImage);
        });
        app.MapPost("/1.0/images", ctx => CreateAsync(ctx));
        ImageAliasEndpoints.Map(app);
        app.MapGet("/1.0/images/{fingerprint}", async ctx =>
        {
            var images = ctx.Service<ImageStore>();
            var image = Display(ctx, await images.GetAsync(await ResolveVisibleAsync(ctx, Fp(ctx)), ctx.RequestAborted));
            await Respond.Sync(ctx, image, ApiJsonContext.Default.Image, ETagOf(image));
        });
        app.MapPut("/1.0/images/{fingerprint}", ctx => UpdateAsync(ctx, patch: false));
        app.MapPatch("/1.0/images/{fingerprint}", ctx => UpdateAsync(ctx, patch: true));
        app.MapDelete("/1.0/images/{fingerprint}", ctx => DeleteAsync(ctx));
        app.MapGet("/1.0/images/{fingerprint}/export", ctx => ExportAsync(ctx));
    }

    private static string Fp(HttpContext ctx) => (string)ctx.Request.RouteValues["fingerprint"]!;

    public static string Url(string fingerprint) => "/1.0/images/" + fingerprint;

    private static string ETagOf(Image i) => ETag.Compute(new ImagePut
    {
        AutoUpdate = i.AutoUpdate,
        Properties = i.Properties,
        Public = i.Public,
        ExpiresAt = i.ExpiresAt,
        Profiles = i.Profiles,
    }, ApiJsonContext.Default.ImagePut);

    private static long MaxUploadSize(Daemon daemon) =>
        daemon.Config.GetValueOrDefault(ServerConfig.ImagesMaxUploadSize) is { Length: > 0 } v && Validators.ParseSize(v) is { } size
            ? size : ImageStore.DefaultMaxUploadSize;

    private static async Task CreateAsync(HttpContext ctx)
    {
        var profileService = ctx.Service<ProfileService>();
        var images = ctx.Service<ImageStore>();
        var contentType = ctx.Request.ContentType ?? "";
        if (contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            await PullAsync(ctx);
            return;
        }
        var limit = MaxUploadSize(ctx.Service<Daemon>());
        if (ctx.Request.ContentLength > limit)
        {
            throw new PayloadTooLargeException($"Image too large: {ctx.Request.ContentLength} bytes, images.max_upload_size is {limit}");
        }
        var headers = ctx.Request.Headers;
        var opts = new ImportOptions
        {
            Filename = Path.GetFileName(headers["X-LXD-filename"].ToString()),
            Public = LxdBool.IsTrue(headers["X-LXD-public"].ToString()),
            Properties = QueryHelpers.ParseQuery(headers["X-LXD-properties"].ToString()).ToDictionary(kv => kv.Key, kv => kv.Value.ToString()),
            Profiles = ProfileKeys(ctx, headers.TryGetValue("X-LXD-profiles", out var profiles)
                ? QueryHelpers.ParseQuery(profiles.ToString()).GetValueOrDefault("profile").Select(p => p!).ToList()
                : null),
            Aliases = AliasKeys(ctx, QueryHelpers.ParseQuery(headers["X-LXD-aliases"].ToString()).GetValueOrDefault("alias")
                .Select(a => new ImageAlias { Name = a! }).ToList()),
            ExpectedFingerprint = headers["X-LXD-fingerprint"].ToString(),
            AdoptExisting = Adopt(ctx.Service<Hyperlxd.State.StateStore>(), ProjectScope.Of(ctx).ImageProject),
        };
        foreach (var profile in opts.Profiles ?? new())
        {
            await profileService.GetAsync(profile, ctx.RequestAborted, usedBy: false);
        }
        Image image;
        await using (var upload = images.BeginUpload(limit))
        {
            if (contentType.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                await ReadMultipartAsync(ctx, upload);
            }
            else
            {
                await upload.AddPartAsync("metadata", ctx.Request.Body, ctx.RequestAborted);
            }
            image = await images.ImportAsync(upload, opts, ctx.RequestAborted);
        }
        await ClaimAsync(ctx.Service<Hyperlxd.State.StateStore>(), ProjectScope.Of(ctx).ImageProject, image.Fingerprint, ctx.RequestAborted);
        Lifecycle(ctx, "image-created", image.Fingerprint);
        // The work is done: the operation only carries the result (the CLI reads metadata.fingerprint),
        // and it is final in the 202 itself, so clients need no event to finish waiting.
        await RespondDone(ctx, "Downloading image", image.Fingerprint, new() { ["fingerprint"] = image.Fingerprint, ["size"] = image.Size });
    }

    private static async Task RespondDone(HttpContext ctx, string description, string fp, Dictionary<string, object?> metadata)
    {
        var operations = ctx.Service<OperationManager>();
        // The image's URL in the request's project: its events reach that project's listeners only.
        var op = operations.Start(OperationClass.Task, description, run: null, new() { ["images"] = new() { ProjectScope.Of(ctx).Url(Url(fp)) } }, metadata);
        operations.Complete(op);
        await Respond.Async(ctx, op);
    }

    /// <summary>Parts <c>metadata</c> then <c>rootfs</c> or <c>rootfs.img</c>, each streamed to disk.</summary>
    private static async Task ReadMultipartAsync(HttpContext ctx, Upload upload)
    {
        var boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(ctx.Request.ContentType).Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new BadRequestException("Invalid multipart upload: no boundary");
        }
        var reader = new MultipartReader(boundary, ctx.Request.Body) { HeadersLengthLimit = 64 * 1024 };
        var expected = new[] { "metadata", "rootfs" };
        var index = 0;
        try
        {
            while (await reader.ReadNextSectionAsync(ctx.RequestAborted) is { } section)
            {
                var name = ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var cd) ? HeaderUtilities.RemoveQuotes(cd.Name).Value : null;
                if (index >= 2 || name is null || !(name == expected[index] || (index == 1 && name == "rootfs.img")))
                {
                    throw new BadRequestException($"Invalid multipart upload: unexpected part \"{name}\" (expected \"metadata\" then \"rootfs\" or \"rootfs.img\")");
                }
                await upload.AddPartAsync(name, section.Body, ctx.RequestAborted);
                index++;
            }
        }
        catch (IOException e)
        {
            throw new BadRequestException($"Invalid multipart upload: {e.Message}", e);
        }
        if (index != 2)
        {
            throw new BadRequestException("Invalid multipart upload: the parts \"metadata\" and \"rootfs\" are required");
        }
    }

    /// <summary>JSON body: a remote source, pulled inside the operation (downloads take time).</summary>
    private static async Task PullAsync(HttpContext ctx)
    {
        var operations = ctx.Service<OperationManager>();
        var images = ctx.Service<ImageStore>();
        var events = ctx.Service<EventHub>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImagesPost);
        var source = req.Source ?? throw new BadRequestException("source is required");
        if (source.Type is "instance" or "container" or "virtual-machine" or "snapshot")
        {
            await PublishAsync(ctx, req, source);
            return;
        }
        if (source.Type is not ("url" or "image"))
        {
            throw new BadRequestException($"Unsupported image source type \"{source.Type}\": \"url\", \"image\", \"instance\" and \"snapshot\" are implemented");
        }
        if (source.Mode is not (null or "" or "pull"))
        {
            throw new BadRequestException($"Unsupported image source mode \"{source.Mode}\": only \"pull\" is implemented");
        }
        foreach (var a in req.Aliases ?? new())
        {
            if (string.IsNullOrEmpty(a.Name))
            {
                throw new BadRequestException("Alias name is required");
            }
        }
        var limit = MaxUploadSize(ctx.Service<Daemon>());
        var opts = new ImportOptions
        {
            Filename = req.Filename ?? "",
            Public = req.Public ?? false,
            AutoUpdate = req.AutoUpdate ?? false,
            Properties = req.Properties ?? new(),
            Profiles = ProfileKeys(ctx, req.Profiles),
            Aliases = AliasKeys(ctx, req.Aliases),
            AdoptExisting = Adopt(ctx.Service<Hyperlxd.State.StateStore>(), ProjectScope.Of(ctx).ImageProject),
        };
        var requestor = Caller.Of(ctx).Requestor;
        var (store, imageProject) = (ctx.Service<Hyperlxd.State.StateStore>(), ProjectScope.Of(ctx).ImageProject);
        var op = operations.Start(OperationClass.Task, "Downloading image", async (o, ct) =>
        {
            var last = -1L;
            var image = await images.PullAsync(source, opts, limit, (done, total) =>
            {
                var pct = total > 0 ? done * 100 / total : -1;
                if (pct != last && pct >= 0)
                {
                    last = pct;
                    o.SetMetadata("download_progress", $"rootfs: {pct}%");
                }
            }, ct);
            await ClaimAsync(store, imageProject, image.Fingerprint, ct);
            o.SetMetadata("fingerprint", image.Fingerprint);
            o.SetMetadata("size", image.Size);
            events.PublishLifecycle("image-created", ProjectKeys.WithProject(Url(image.Fingerprint), imageProject), null, requestor);
        }, project: ProjectScope.Of(ctx).Name); // no resource before the fingerprint is known: the request's project, as LXD's OperationCreate
        await Respond.Async(ctx, op);
    }

    /// <summary>
    /// <c>lxc publish</c>: the source and options are checked before the 202; packing runs in the operation,
    /// whose metadata carries the fingerprint and size as LXD's (the CLI then sets the aliases).
    /// </summary>
    private static async Task PublishAsync(HttpContext ctx, ImagesPost req, ImagesPostSource source)
    {
        var operations = ctx.Service<OperationManager>();
        var instances = ctx.Service<InstanceManager>();
        var events = ctx.Service<EventHub>();
        if (!string.IsNullOrEmpty(source.Name))
        {
            // "c1" or "c1/snap0" in the request's project.
            var slash = source.Name.IndexOf('/');
            source.Name = slash < 0 ? ProjectScope.Of(ctx).InstanceKey(source.Name) : ProjectScope.Of(ctx).InstanceKey(source.Name[..slash]) + source.Name[slash..];
        }
        var (instance, snapshot) = await instances.CheckPublishSourceAsync(source, ctx.RequestAborted);
        CompressionAlgorithms.Check(req.CompressionAlgorithm);
        foreach (var a in req.Aliases ?? new())
        {
            ImageStore.ValidateUserAliasName(a.Name);
        }
        var profileKeys = ProfileKeys(ctx, req.Profiles);
        foreach (var profile in profileKeys ?? new())
        {
            await ctx.Service<ProfileService>().GetAsync(profile, ctx.RequestAborted, usedBy: false);
        }
        var opts = new ImportOptions
        {
            Filename = req.Filename ?? "",
            Public = req.Public ?? false,
            Profiles = profileKeys,
            Aliases = AliasKeys(ctx, req.Aliases),
            AdoptExisting = Adopt(ctx.Service<Hyperlxd.State.StateStore>(), ProjectScope.Of(ctx).ImageProject),
        };
        var requestor = Caller.Of(ctx).Requestor;
        var (store, imageProject) = (ctx.Service<Hyperlxd.State.StateStore>(), ProjectScope.Of(ctx).ImageProject);
        var op = operations.Start(OperationClass.Task, "Downloading image", async (o, ct) =>
        {
            var image = await instances.PublishAsync(instance, snapshot, req, opts, ct);
            await ClaimAsync(store, imageProject, image.Fingerprint, ct);
            o.SetMetadata("fingerprint", image.Fingerprint);
            o.SetMetadata("size", image.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
            events.PublishLifecycle("image-created", ProjectKeys.WithProject(Url(image.Fingerprint), imageProject), null, requestor);
        }, new() { ["instances"] = new() { InstanceManager.Url(instance) } }, project: ProjectScope.Of(ctx).Name);
        await Respond.Async(ctx, op);
    }

    private static async Task UpdateAsync(HttpContext ctx, bool patch)
    {
        var images = ctx.Service<ImageStore>();
        var profiles = ctx.Service<ProfileService>();
        var req = await RequestBody.ReadAsync(ctx, ApiJsonContext.Default.ImagePut);
        var fp = await ResolveVisibleAsync(ctx, Fp(ctx));
        req.Profiles = ProfileKeys(ctx, req.Profiles);
        foreach (var profile in req.Profiles ?? new())
        {
            await profiles.GetAsync(profile, ctx.RequestAborted, usedBy: false);
        }
        await images.UpdateAsync(fp, req, patch, i => Collection.CheckETag(ctx, ETagOf(i)), ctx.RequestAborted);
        Lifecycle(ctx, "image-updated", fp);
        await Respond.Empty(ctx);
    }

    private static async Task DeleteAsync(HttpContext ctx)
    {
        var images = ctx.Service<ImageStore>();
        var fp = await ResolveVisibleAsync(ctx, Fp(ctx));
        // Deleting is quick (a row and a few files): done before the reply, like an upload.
        if (await ReleaseAsync(ctx, fp))
        {
            await images.DeleteAsync(fp, ctx.RequestAborted);
        }
        Lifecycle(ctx, "image-deleted", fp);
        await RespondDone(ctx, "Deleting image", fp, new());
    }

    /// <summary>Unified: the raw tarball. Split: multipart/form-data with "metadata" and "rootfs"(.img), as LXD sends it.</summary>
    private static async Task ExportAsync(HttpContext ctx)
    {
        var images = ctx.Service<ImageStore>();
        var files = await images.ExportAsync(await ResolveVisibleAsync(ctx, Fp(ctx)), ctx.RequestAborted);
        if (files.Count == 1)
        {
            await Respond.File(ctx, files[0].Path, files[0].Filename);
            return;
        }
        var boundary = Guid.NewGuid().ToString("N");
        ctx.Response.ContentType = $"multipart/form-data; boundary={boundary}";
        var body = ctx.Response.Body;
        foreach (var f in files)
        {
            var head = $"--{boundary}\r\nContent-Disposition: form-data; name=\"{f.Part}\"; filename=\"{f.Filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n";
            await body.WriteAsync(System.Text.Encoding.UTF8.GetBytes(head), ctx.RequestAborted);
            await using (var fs = File.OpenRead(f.Path))
            {
                await fs.CopyToAsync(body, ctx.RequestAborted);
            }
            await body.WriteAsync("\r\n"u8.ToArray(), ctx.RequestAborted);
        }
        await body.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"--{boundary}--\r\n"), ctx.RequestAborted);
    }

    private static void Lifecycle(HttpContext ctx, string action, string fp) =>
        ctx.Service<EventHub>().PublishLifecycle(action, ProjectScope.Of(ctx).Url(Url(fp)), null, Caller.Of(ctx).Requestor);
}
