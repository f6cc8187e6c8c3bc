using System.Text.Json;
using System.Text.Json.Nodes;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx config show/get/set/unset NAME</c>: an instance's local config, GET + PUT with If-Match.</summary>
public static partial class InstanceCommands
{
    private static IEnumerable<Command> ConfigCommands =>
    [
        new("config show", "[REMOTE:]NAME", "Show an instance's configuration", 1, 1, ["format"], ConfigShowAsync),
        new("config get", "[REMOTE:]NAME KEY", "Get an instance config value", 2, 2, [], ConfigGetAsync),
        new("config set", "[REMOTE:]NAME KEY=VALUE...|KEY VALUE", "Set instance config keys", 2, Command.Unlimited, [], ConfigSetAsync),
        new("config unset", "[REMOTE:]NAME KEY", "Unset an instance config key", 2, 2, [], ConfigUnsetAsync),
    ];

    /// <summary>The keys lxc config show prints (the writable ones plus name); state and expansions are left out.</summary>
    private static readonly string[] ShownKeys = ["architecture", "config", "devices", "ephemeral", "profiles", "stateful", "description"];

    private static async Task<int> ConfigShowAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, InstancePath(name), null, null);
        Formatter.Write(call.Out, ConfigView(result.Metadata), format);
        return 0;
    }

    public static JsonElement ConfigView(JsonElement instance)
    {
        var view = new JsonObject();
        foreach (var key in ShownKeys)
        {
            if (instance.TryGetProperty(key, out var value))
                view[key] = JsonNode.Parse(value.GetRawText());
        }

        using var doc = JsonDocument.Parse(view.ToJsonString());
        return doc.RootElement.Clone();
    }

    private static async Task<int> ConfigGetAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        using var client = call.Ctx.Connect(remote);
        var instance = await client.GetAsync(InstancePath(name), ApiJsonContext.Default.Instance);
        call.Out.WriteLine(instance.Config.GetValueOrDefault(call.Args[1], ""));
        return 0;
    }

    private static async Task<int> ConfigSetAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        var values = ProfileCommands.ParseKeyValues(call.Args.Skip(1).ToList());
        await UpdateInstanceAsync(call, remote, name, config => ConfigEdits.Set(config, values));
        return 0;
    }

    private static async Task<int> ConfigUnsetAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        var key = call.Args[1];
        await UpdateInstanceAsync(call, remote, name, config => ConfigEdits.Unset(config, key));
        return 0;
    }

    /// <summary>GET, change the local config, PUT the writable fields with If-Match (refuses a concurrent edit).</summary>
    private static async Task UpdateInstanceAsync(CommandCall call, string remote, string name, Action<Dictionary<string, string>> change)
    {
        using var client = call.Ctx.Connect(remote);
        var path = InstancePath(name);
        var result = await client.QueryAsync(HttpMethod.Get, path, null, null);
        var instance = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.Instance, path);
        var config = instance.Config ?? new();
        change(config);
        var put = new InstancePut
        {
            Architecture = instance.Architecture,
            Config = config,
            Devices = instance.Devices ?? new(),
            Profiles = instance.Profiles ?? new(),
            Ephemeral = instance.Ephemeral,
            Stateful = instance.Stateful,
            Description = instance.Description ?? "",
        };
        await client.QueryAsync(HttpMethod.Put, path, HyperlxdClient.Serialize(put, OmitNulls.InstancePut), result.ETag);
    }
}
