using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx info [REMOTE:]</c>: the server object, YAML by default like <c>lxc info</c>.</summary>
public static class InfoCommands
{
    public static IEnumerable<Command> All =>
    [
        new("info", "[REMOTE:]", "Show the server information", 0, 1, ["format"], InfoAsync),
    ];

    private static async Task<int> InfoAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, name) = call.Args.Count > 0 ? call.Ctx.Config.ParseRemote(call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        if (name.Length > 0)
            throw new UsageException($"hlx info shows the server only; instance \"{name}\" is not supported (use \"{remote}:\")");

        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0", null, null);
        Formatter.Write(call.Out, result.Metadata, format);
        return 0;
    }
}
