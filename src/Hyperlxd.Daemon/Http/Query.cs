using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hyperlxd.Core;
using Hyperlxd.Core.Query;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Daemon.Http;

/// <summary>Collection responses: <c>recursion=0</c> gives URLs, 1 and above objects, both narrowed by <c>filter=</c>.</summary>
public static class Collection
{
    public static int Recursion(HttpContext ctx)
    {
        var value = ctx.Request.Query["recursion"].ToString();
        if (value.Length == 0)
        {
            return 0;
        }
        return int.TryParse(value, out var r) && r >= 0
            ? r
            : throw new BadRequestException($"Invalid value for \"recursion\": \"{value}\"");
    }

    public static Task Write<T>(HttpContext ctx, IEnumerable<T> items, Func<T, string> url, JsonTypeInfo<T> itemType, JsonTypeInfo<List<T>> listType)
    {
        var filter = ApiFilter.Parse(ctx.Request.Query["filter"]);
        var selected = filter is null
            ? items.ToList()
            : items.Where(i => filter.Matches(JsonSerializer.SerializeToElement(i, itemType))).ToList();
        return Recursion(ctx) == 0
            ? Respond.Sync(ctx, selected.Select(url).ToList(), Api.ApiJsonContext.Default.ListString)
            : Respond.Sync(ctx, selected, listType);
    }

    /// <summary>Checks an <c>If-Match</c> header against the current ETag (412 when stale).</summary>
    public static void CheckETag(HttpContext ctx, string current)
    {
        var match = ctx.Request.Headers.IfMatch.ToString();
        if (match.Length > 0 && match != "*" && match.Trim('"') != current)
        {
            throw new PreconditionFailedException("ETag doesn't match: the object changed since it was read");
        }
    }
}
