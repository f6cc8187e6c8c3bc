using System.Globalization;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx operation list/show/delete</c>.</summary>
public static class OperationCommands
{
    public static IEnumerable<Command> All =>
    [
        new("operation list", "[REMOTE:]", "List background operations", 0, 1, ["format"], ListAsync, ["ls"]),
        new("operation show", "[REMOTE:]ID", "Show an operation", 1, 1, ["format"], ShowAsync),
        new("operation delete", "[REMOTE:]ID", "Cancel an operation", 1, 1, [], DeleteAsync, ["rm", "cancel"]),
    ];

    private static async Task<int> ListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, name) = call.Args.Count > 0 ? call.Ctx.Config.ParseRemote(call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        if (name.Length > 0)
            throw new UsageException($"Unexpected \"{name}\": operation list takes only a remote (\"REMOTE:\")");

        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/operations?recursion=1", null, null);
        var elements = Flatten(result.Metadata);
        if (format != OutputFormat.Table)
        {
            Formatter.Write(call.Out, Formatter.ArrayOf(elements), format);
            return 0;
        }

        var ops = elements.Select(e => HyperlxdClient.Decode(e, ApiJsonContext.Default.Operation, "/1.0/operations"))
            .OrderBy(o => o.CreatedAt).ThenBy(o => o.Id, StringComparer.Ordinal);
        call.Out.Write(Formatter.Table(
            ["ID", "CLASS", "DESCRIPTION", "STATUS", "CANCELABLE", "CREATED"],
            ops.Select(o => (IReadOnlyList<string>)
            [
                o.Id, o.Class, o.Description, o.Status, o.MayCancel ? "YES" : "NO",
                o.CreatedAt.ToUniversalTime().ToString("yyyy/MM/dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
            ])));
        return 0;
    }

    /// <summary>
    /// The recursive listing is a map of status name to operation list; flatten it. A plain list
    /// (what the non-recursive form returns) is accepted too.
    /// </summary>
    public static List<JsonElement> Flatten(JsonElement metadata)
    {
        var result = new List<JsonElement>();
        if (metadata.ValueKind == JsonValueKind.Object)
        {
            foreach (var status in metadata.EnumerateObject())
            {
                if (status.Value.ValueKind == JsonValueKind.Array)
                    result.AddRange(status.Value.EnumerateArray());
            }
        }
        else if (metadata.ValueKind == JsonValueKind.Array)
        {
            result.AddRange(metadata.EnumerateArray());
        }

        return result;
    }

    private static async Task<int> ShowAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, id) = ParseId(call);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/operations/" + Uri.EscapeDataString(id), null, null);
        Formatter.Write(call.Out, result.Metadata, format);
        return 0;
    }

    private static async Task<int> DeleteAsync(CommandCall call)
    {
        var (remote, id) = ParseId(call);
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Delete, "/1.0/operations/" + Uri.EscapeDataString(id), null, null);
        call.Out.WriteLine($"Operation {id} deleted");
        return 0;
    }

    private static (string Remote, string Id) ParseId(CommandCall call)
    {
        var (remote, id) = call.Ctx.Config.ParseRemote(call.Args[0]);
        if (id.Length == 0)
            throw new UsageException("Missing operation ID");
        return (remote, id);
    }
}
