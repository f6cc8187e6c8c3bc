using System.Globalization;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Instances;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Instances;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Endpoints;

public static partial class InstanceEndpoints
{
    private static void MapFiles(WebApplication app, string prefix)
    {
        app.MapGet(prefix + "/{name}/files", ctx => PullAsync(ctx));
        app.MapPost(prefix + "/{name}/files", ctx => PushAsync(ctx));
        app.MapDelete(prefix + "/{name}/files", async ctx =>
        {
            var instances = ctx.Service<InstanceManager>();
            var e = await LoadAsync(ctx);
            await instances.DeleteFileAsync(e, FilePath(ctx), ctx.RequestAborted);
            await Respond.Empty(ctx);
        });
    }

    /// <summary>The path is always taken as absolute inside the instance (lxc sends it without the leading slash).</summary>
    private static string FilePath(HttpContext ctx)
    {
        var path = ctx.Request.Query["path"].ToString();
        if (path.Length == 0)
        {
            throw new BadRequestException("Missing \"path\" query parameter");
        }
        if (path.Contains('\0'))
        {
            throw new BadRequestException("Invalid path");
        }
        return path.StartsWith('/') ? path : "/" + path;
    }

    private static async Task PullAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        await using var file = await instances.GetFileAsync(e, FilePath(ctx), ctx.RequestAborted);
        var h = ctx.Response.Headers;
        h["X-LXD-uid"] = file.Uid.ToString(CultureInfo.InvariantCulture);
        h["X-LXD-gid"] = file.Gid.ToString(CultureInfo.InvariantCulture);
        h["X-LXD-mode"] = "0" + Convert.ToString(file.Mode & 0xfff, 8);
        switch (file.Type)
        {
            case FileType.Directory:
                h["X-LXD-type"] = "directory";
                await Respond.Sync(ctx, (file.Entries ?? Array.Empty<string>()).ToList(), ApiJsonContext.Default.ListString);
                break;
            case FileType.Symlink:
                h["X-LXD-type"] = "symlink";
                ctx.Response.ContentType = "application/octet-stream";
                await ctx.Response.WriteAsync(file.Target ?? "", ctx.RequestAborted);
                break;
            default:
                h["X-LXD-type"] = "file";
                ctx.Response.ContentType = "application/octet-stream";
                await file.Content!.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
                break;
        }
    }

    /// <summary>X-LXD-uid/gid/mode/type/write headers as lxc and pylxd send them; missing ones mean LXD's defaults.</summary>
    private static async Task PushAsync(HttpContext ctx)
    {
        var instances = ctx.Service<InstanceManager>();
        var e = await LoadAsync(ctx);
        var path = FilePath(ctx);
        var h = ctx.Request.Headers;
        var type = h["X-LXD-type"].ToString() switch
        {
            "" or "file" => FileType.File,
            "directory" => FileType.Directory,
            "symlink" => FileType.Symlink,
            var t => throw new BadRequestException($"Invalid X-LXD-type \"{t}\": must be file, directory or symlink"),
        };
        var append = h["X-LXD-write"].ToString() switch
        {
            "" or "overwrite" => false,
            "append" => true,
            var w => throw new BadRequestException($"Invalid X-LXD-write \"{w}\": must be overwrite or append"),
        };
        uint? Id(string header)
        {
            var v = h[header].ToString();
            return v.Length == 0 || v == "-1" ? null
                : uint.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id
                : throw new BadRequestException($"Invalid {header} \"{v}\"");
        }
        uint? mode = null;
        if (h["X-LXD-mode"].ToString() is { Length: > 0 } m)
        {
            try
            {
                mode = Convert.ToUInt32(m, 8);
            }
            catch (FormatException)
            {
                throw new BadRequestException($"Invalid X-LXD-mode \"{m}\": an octal mode such as 0644 is expected");
            }
            if (mode > 0xfff)
            {
                throw new BadRequestException($"Invalid X-LXD-mode \"{m}\"");
            }
        }
        string? target = null;
        var body = ctx.Request.Body;
        if (type == FileType.Symlink)
        {
            using var reader = new StreamReader(body);
            target = await reader.ReadToEndAsync(ctx.RequestAborted);
            body = Stream.Null;
        }
        await instances.PutFileAsync(e, path,
            new FileWrite(type, Id("X-LXD-uid"), Id("X-LXD-gid"), mode, append, target), body, ctx.RequestAborted);
        await Respond.Empty(ctx);
    }
}
