using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary>
/// Instance verbs (<c>hlx launch/list/start/exec/...</c>), following lxc's request sequences. Split by
/// concern: lifecycle here, exec, config and files/console in the other InstanceCommands.*.cs files.
/// </summary>
public static partial class InstanceCommands
{
    private static readonly ApiJsonContext OmitNulls = new(new JsonSerializerOptions(ApiJsonContext.Default.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });

    public static IEnumerable<Command> All =>
    [
        new("launch", "[REMOTE:]IMAGE [NAME]", "Create and start an instance from an image (alias or fingerprint)", 1, 2, ["profile", "config"], LaunchAsync),
        new("init", "[REMOTE:]IMAGE [NAME]", "Create an instance from an image without starting it", 1, 2, ["profile", "config"], InitAsync),
        new("list", "[REMOTE:][FILTER]", "List instances", 0, 1, ["format"], ListAsync, ["ls"]),
        new("start", "[REMOTE:]NAME...", "Start instances", 1, Command.Unlimited, [], c => StateAsync(c, "start")),
        new("stop", "[REMOTE:]NAME...", "Stop instances", 1, Command.Unlimited, ["force"], c => StateAsync(c, "stop")),
        new("restart", "[REMOTE:]NAME...", "Restart instances", 1, Command.Unlimited, ["force"], c => StateAsync(c, "restart")),
        new("pause", "[REMOTE:]NAME...", "Pause (freeze) instances", 1, Command.Unlimited, [], c => StateAsync(c, "freeze")),
        new("delete", "[REMOTE:]NAME...", "Delete instances (--force stops running ones first)", 1, Command.Unlimited, ["force"], DeleteAsync, ["rm"]),
        new("snapshot", "[REMOTE:]NAME [SNAPSHOT]", "Snapshot an instance", 1, 2, [], SnapshotAsync),
        new("restore", "[REMOTE:]NAME SNAPSHOT", "Restore an instance from a snapshot", 2, 2, [], RestoreAsync),
        new("exec", "[REMOTE:]NAME -- COMMAND...", "Run a command in an instance (non-interactive)", 2, Command.Unlimited, [], ExecAsync),
        .. ConfigCommands,
        .. FileCommands,
    ];

    public static string InstancePath(string name) => "/1.0/instances/" + Uri.EscapeDataString(name);

    private static (string Remote, string Name) Target(CommandCall call, string arg)
    {
        var (remote, name) = call.Ctx.Config.ParseRemote(arg);
        if (name.Length == 0)
            throw new UsageException("Missing instance name");
        return (remote, name);
    }

    private static Task<int> LaunchAsync(CommandCall call) => CreateAsync(call, start: true);

    private static Task<int> InitAsync(CommandCall call) => CreateAsync(call, start: false);

    /// <summary>Builds the POST /1.0/instances body from the command line (image, name, -p and -c).</summary>
    public static InstancesPost CreateRequest(string image, bool imageIsAlias, string? name, IReadOnlyList<string> profiles, IReadOnlyList<string> config) => new()
    {
        Name = name,
        Type = "container",
        Profiles = profiles.Count > 0 ? profiles.ToList() : null,
        Config = ProfileCommands.ParsePairs(config),
        Devices = new(),
        Source = imageIsAlias
            ? new InstanceSource { Type = "image", Alias = image }
            : new InstanceSource { Type = "image", Fingerprint = image },
    };

    private static async Task<int> CreateAsync(CommandCall call, bool start)
    {
        var (remote, image) = call.Ctx.Config.ParseRemote(call.Args[0]);
        if (image.Length == 0)
            throw new UsageException("Missing image (an alias or a fingerprint)");
        string? name = null;
        var instanceRemote = remote;
        if (call.Args.Count > 1)
            (instanceRemote, name) = Target(call, call.Args[1]);
        if (instanceRemote != remote)
            throw new CliException("Images can only be used from the instance's own remote");

        using var client = call.Ctx.Connect(remote);

        // Like lxc: an alias wins; anything else is taken as a (possibly partial) fingerprint.
        var isAlias = true;
        try
        {
            await client.QueryAsync(HttpMethod.Get, "/1.0/images/aliases/" + Uri.EscapeDataString(image), null, null);
        }
        catch (ApiException e) when (e.StatusCode == (int)HttpStatusCode.NotFound)
        {
            isAlias = false;
        }

        var body = CreateRequest(image, isAlias, name, call.Parsed.GetAll("profile"), call.Parsed.GetAll("config"));
        call.Out.WriteLine(name is null ? "Creating the instance" : $"Creating {name}");
        var result = await client.QueryAsync(HttpMethod.Post, "/1.0/instances", HyperlxdClient.Serialize(body, OmitNulls.InstancesPost), null);
        if (name is null)
        {
            var op = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.Operation, "/1.0/instances");
            var url = op.Resources?.GetValueOrDefault("instances")?.FirstOrDefault()
                ?? op.Resources?.GetValueOrDefault("containers")?.FirstOrDefault()
                ?? throw new CliException("The server did not say which instance it created");
            name = Uri.UnescapeDataString(url.Split('?')[0].Split('/')[^1]);
            call.Out.WriteLine($"Instance name is: {name}");
        }

        if (start)
        {
            call.Out.WriteLine($"Starting {name}");
            await ChangeStateAsync(client, name, "start", force: false);
        }

        return 0;
    }

    private static Task ChangeStateAsync(HyperlxdClient client, string name, string action, bool force)
    {
        var body = new InstanceStatePut { Action = action, Timeout = -1, Force = force };
        return client.QueryAsync(HttpMethod.Put, InstancePath(name) + "/state", HyperlxdClient.Serialize(body, OmitNulls.InstanceStatePut), null);
    }

    private static async Task<int> StateAsync(CommandCall call, string action)
    {
        foreach (var arg in call.Args)
        {
            var (remote, name) = Target(call, arg);
            #pragma warning disable CA2000 // false positive: a using declaration in a loop of an async method
            using var client = call.Ctx.Connect(remote);
            #pragma warning restore CA2000
            var effective = action;
            // As lxc does: "start" on a frozen instance thaws it.
            if (action == "start")
            {
                var instance = await client.GetAsync(InstancePath(name), ApiJsonContext.Default.Instance);
                if (instance.StatusCode == (int)StatusCode.Frozen)
                    effective = "unfreeze";
            }

            await ChangeStateAsync(client, name, effective, call.Parsed.Has("force"));
        }

        return 0;
    }

    private static async Task<int> DeleteAsync(CommandCall call)
    {
        foreach (var arg in call.Args)
        {
            var (remote, name) = Target(call, arg);
            #pragma warning disable CA2000 // false positive: a using declaration in a loop of an async method
            using var client = call.Ctx.Connect(remote);
            #pragma warning restore CA2000
            var instance = await client.GetAsync(InstancePath(name), ApiJsonContext.Default.Instance);
            if (instance.StatusCode != (int)StatusCode.Stopped)
            {
                if (!call.Parsed.Has("force"))
                    throw new CliException("The instance is currently running, stop it first or pass --force");
                await ChangeStateAsync(client, name, "stop", force: true);
            }

            await client.QueryAsync(HttpMethod.Delete, InstancePath(name), null, null);
        }

        return 0;
    }

    private static async Task<int> ListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, filter) = call.Args.Count > 0 ? call.Ctx.Config.ParseRemote(call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/instances?recursion=2", null, null);
        var instances = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.ListInstanceFull, "/1.0/instances");
        if (format != OutputFormat.Table)
        {
            // Keep the server's objects byte-identical; only the filter applies.
            var kept = result.Metadata.EnumerateArray()
                .Where(e => e.TryGetProperty("name", out var n) && (n.GetString() ?? "").StartsWith(filter, StringComparison.Ordinal));
            Formatter.Write(call.Out, Formatter.ArrayOf(kept), format);
            return 0;
        }

        call.Out.Write(InstanceTable(instances.Where(i => i.Name.StartsWith(filter, StringComparison.Ordinal))));
        return 0;
    }

    /// <summary>lxc list's default columns (nstp46S without the PROFILES): NAME, STATE, IPV4, IPV6, TYPE, SNAPSHOTS.</summary>
    public static string InstanceTable(IEnumerable<InstanceFull> instances) => Formatter.Table(
        ["NAME", "STATE", "IPV4", "IPV6", "TYPE", "SNAPSHOTS"],
        instances.OrderBy(i => i.Name, StringComparer.Ordinal).Select(i => (IReadOnlyList<string>)
        [
            i.Name, i.Status.ToUpperInvariant(), Addresses(i, "inet"), Addresses(i, "inet6"),
            (i.Type == "virtual-machine" ? "VIRTUAL-MACHINE" : "CONTAINER") + (i.Ephemeral ? " (EPHEMERAL)" : ""),
            i.Snapshots.Count.ToString(CultureInfo.InvariantCulture),
        ]));

    /// <summary>Global addresses as "10.0.0.2 (eth0)", one a line, loopback left out (as lxc list does).</summary>
    public static string Addresses(InstanceFull instance, string family)
    {
        if (instance.State?.Network is not { } network)
            return "";
        var lines = new List<string>();
        foreach (var (nic, state) in network.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            if (nic == "lo")
                continue;
            foreach (var address in state.Addresses)
            {
                if (address.Family == family && address.Scope != "link" && address.Scope != "local")
                    lines.Add($"{address.Address} ({nic})");
            }
        }

        return string.Join('\n', lines);
    }

    private static async Task<int> SnapshotAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        var body = new InstanceSnapshotsPost { Name = call.Args.Count > 1 ? call.Args[1] : null };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Post, InstancePath(name) + "/snapshots",
            HyperlxdClient.Serialize(body, OmitNulls.InstanceSnapshotsPost), null);
        return 0;
    }

    private static async Task<int> RestoreAsync(CommandCall call)
    {
        var (remote, name) = Target(call, call.Args[0]);
        var put = new InstancePut { Restore = call.Args[1] };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Put, InstancePath(name), HyperlxdClient.Serialize(put, OmitNulls.InstancePut), null);
        return 0;
    }
}
