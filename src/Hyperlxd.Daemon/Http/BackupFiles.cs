using Hyperlxd.Core;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Http;

/// <summary>The two ends of a backup tarball: an upload kept on disk under a size limit, and an export's download.</summary>
public static class BackupFiles
{
    /// <summary>
    /// Writes the request body to <paramref name="file"/> (created anew), refusing it with a 413 as soon as it is
    /// known to exceed <paramref name="limit"/> bytes: from Content-Length when given, else while it streams.
    /// </summary>
    public static async Task SaveUploadAsync(HttpContext ctx, string file, long limit)
    {
        if (ctx.Request.ContentLength > limit)
        {
            throw new PayloadTooLargeException($"Backup too large: {ctx.Request.ContentLength} bytes, the server has {limit} free");
        }
        await using var f = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        var buffer = new byte[1 << 20];
        long total = 0;
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(buffer, ctx.RequestAborted)) > 0)
        {
            total += n;
            if (total > limit)
            {
                throw new PayloadTooLargeException($"Backup too large: more than the {limit} bytes free on the server");
            }
            await f.WriteAsync(buffer.AsMemory(0, n), ctx.RequestAborted);
        }
    }

    /// <summary>A backup's tarball as LXD sends it (<c>GET …/backups/NAME/export</c>).</summary>
    public static async Task SendAsync(HttpContext ctx, string path)
    {
        await using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        ctx.Response.ContentType = "application/octet-stream";
        ctx.Response.ContentLength = f.Length;
        ctx.Response.Headers.ContentDisposition = "attachment; filename=backup.tar.gz";
        await f.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }
}
