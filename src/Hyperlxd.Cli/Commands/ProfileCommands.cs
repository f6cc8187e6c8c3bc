using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx profile ...</c>, following the request sequences of <c>lxc profile</c>.</summary>
public static class ProfileCommands
{
    // PUT bodies carry only the writable fields; the read-only ones would go out as nulls otherwise.
    private static readonly ApiJsonContext OmitNulls = new(new JsonSerializerOptions(ApiJsonContext.Default.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });

    public static IEnumerable<Command> All =>
    [
        new("profile list", "[REMOTE:]", "List profiles", 0, 1, ["format"], ListAsync, ["ls"]),
        new("profile show", "[REMOTE:]NAME", "Show a profile", 1, 1, ["format"], ShowAsync),
        new("profile create", "[REMOTE:]NAME", "Create a profile", 1, 1, ["description"], CreateAsync),
        new("profile edit", "[REMOTE:]NAME", "Edit a profile as YAML (stdin or $EDITOR)", 1, 1, [], EditAsync),
        new("profile get", "[REMOTE:]NAME KEY", "Get a profile config value", 2, 2, [], GetAsync),
        new("profile set", "[REMOTE:]NAME KEY=VALUE...|KEY VALUE", "Set profile config keys", 2, Command.Unlimited, [], SetAsync),
        new("profile unset", "[REMOTE:]NAME KEY", "Unset a profile config key", 2, 2, [], UnsetAsync),
        new("profile delete", "[REMOTE:]NAME", "Delete a profile", 1, 1, [], DeleteAsync, ["rm"]),
        new("profile rename", "[REMOTE:]OLD NEW", "Rename a profile", 2, 2, [], RenameAsync, ["mv"]),
        new("profile device add", "[REMOTE:]NAME DEVICE [TYPE] KEY=VALUE...", "Add a device to a profile", 3, Command.Unlimited, [], DeviceAddAsync),
        new("profile device remove", "[REMOTE:]NAME DEVICE", "Remove a device from a profile", 2, 2, [], DeviceRemoveAsync, ["rm"]),
    ];

    private static string ProfilePath(string name) => "/1.0/profiles/" + Uri.EscapeDataString(name);

    private static (string Remote, string Name) Target(CommandCall call)
    {
        var (remote, name) = call.Ctx.Config.ParseRemote(call.Args[0]);
        if (name.Length == 0)
            throw new UsageException("Missing profile name");
        return (remote, name);
    }

    private static async Task<int> ListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, name) = call.Args.Count > 0 ? call.Ctx.Config.ParseRemote(call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        if (name.Length > 0)
            throw new UsageException($"Unexpected \"{name}\": profile list takes only a remote (\"REMOTE:\")");

        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/profiles?recursion=1", null, null);
        if (format != OutputFormat.Table)
        {
            Formatter.Write(call.Out, result.Metadata, format);
            return 0;
        }

        var profiles = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.ListProfile, "/1.0/profiles");
        call.Out.Write(Formatter.Table(
            ["NAME", "DESCRIPTION", "USED BY"],
            profiles.OrderBy(p => p.Name, StringComparer.Ordinal)
                .Select(p => (IReadOnlyList<string>)[p.Name, p.Description, p.UsedBy.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)])));
        return 0;
    }

    private static async Task<int> ShowAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, name) = Target(call);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, ProfilePath(name), null, null);
        Formatter.Write(call.Out, result.Metadata, format);
        return 0;
    }

    private static async Task<int> CreateAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        var body = new ProfilesPost { Name = name, Description = call.Flag("description") ?? "", Config = new(), Devices = new() };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Post, "/1.0/profiles", HyperlxdClient.Serialize(body, ApiJsonContext.Default.ProfilesPost), null);
        call.Out.WriteLine($"Profile {name} created");
        return 0;
    }

    private static async Task<int> DeleteAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Delete, ProfilePath(name), null, null);
        call.Out.WriteLine($"Profile {name} deleted");
        return 0;
    }

    private static async Task<int> RenameAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        var newName = call.Args[1];
        var colon = newName.IndexOf(':');
        if (colon >= 0)
        {
            // "r:new" is allowed as long as it names the same remote; profiles can't move between servers.
            if (newName[..colon] != remote)
                throw new CliException("Can't rename a profile to a different remote");
            newName = newName[(colon + 1)..];
        }

        if (newName.Length == 0)
            throw new UsageException("Missing new profile name");
        using var client = call.Ctx.Connect(remote);
        var body = new ProfilePost { Name = newName };
        await client.QueryAsync(HttpMethod.Post, ProfilePath(name), HyperlxdClient.Serialize(body, ApiJsonContext.Default.ProfilePost), null);
        call.Out.WriteLine($"Profile {name} renamed to {newName}");
        return 0;
    }

    private static async Task<int> GetAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        using var client = call.Ctx.Connect(remote);
        var profile = await client.GetAsync(ProfilePath(name), ApiJsonContext.Default.Profile);
        call.Out.WriteLine(profile.Config.GetValueOrDefault(call.Args[1], ""));
        return 0;
    }

    /// <summary>Parses <c>k=v [k=v...]</c> or the two-argument <c>k v</c> form, as lxc does.</summary>
    public static Dictionary<string, string> ParseKeyValues(IReadOnlyList<string> args)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (args.Count == 2 && !args[0].Contains('='))
        {
            result[args[0]] = args[1];
            return result;
        }

        return ParsePairs(args);
    }

    public static Dictionary<string, string> ParsePairs(IEnumerable<string> args)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var arg in args)
        {
            var eq = arg.IndexOf('=');
            if (eq <= 0)
                throw new UsageException($"Invalid key=value configuration: {arg}");
            result[arg[..eq]] = arg[(eq + 1)..];
        }

        return result;
    }

    private static async Task<int> SetAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        var values = ParseKeyValues(call.Args.Skip(1).ToList());
        await UpdateAsync(call, remote, name, profile =>
        {
            ConfigEdits.Set(profile.Config, values);
        });
        return 0;
    }

    private static async Task<int> UnsetAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        var key = call.Args[1];
        await UpdateAsync(call, remote, name, profile =>
        {
            ConfigEdits.Unset(profile.Config, key);
        });
        return 0;
    }

    private static async Task<int> DeviceAddAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        var device = call.Args[1];
        var rest = call.Args.Skip(2).ToList();
        var props = new Dictionary<string, string>(StringComparer.Ordinal);
        if (rest.Count > 0 && !rest[0].Contains('='))
        {
            props["type"] = rest[0];
            rest.RemoveAt(0);
        }

        foreach (var (k, v) in ParsePairs(rest))
            props[k] = v;
        if (!props.ContainsKey("type"))
            throw new UsageException("Missing device type (give it as TYPE or type=TYPE)");

        await UpdateAsync(call, remote, name, profile =>
        {
            if (!profile.Devices.TryAdd(device, props))
                throw new CliException($"The device already exists");
        });
        call.Out.WriteLine($"Device {device} added to {name}");
        return 0;
    }

    private static async Task<int> DeviceRemoveAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        var device = call.Args[1];
        await UpdateAsync(call, remote, name, profile =>
        {
            if (!profile.Devices.Remove(device))
                throw new CliException($"Device doesn't exist");
        });
        call.Out.WriteLine($"Device {device} removed from {name}");
        return 0;
    }

    /// <summary>GET, change, PUT with If-Match of the GET's ETag so concurrent edits are refused.</summary>
    private static async Task UpdateAsync(CommandCall call, string remote, string name, Action<Profile> change)
    {
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, ProfilePath(name), null, null);
        var profile = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.Profile, ProfilePath(name));
        profile.Config ??= new();
        profile.Devices ??= new();
        change(profile);
        var put = new ProfilePut { Description = profile.Description ?? "", Config = profile.Config, Devices = profile.Devices };
        await PutAsync(client, name, put, result.ETag);
    }

    private static Task PutAsync(HyperlxdClient client, string name, ProfilePut put, string? etag) =>
        client.QueryAsync(HttpMethod.Put, ProfilePath(name), HyperlxdClient.Serialize(put, OmitNulls.ProfilePut), etag);

    /// <summary>Turns edited YAML into the PUT body; read-only keys (name, used_by) are tolerated and dropped.</summary>
    public static ProfilePut ParseProfileYaml(string yaml)
    {
        var node = Formatter.YamlToJson(yaml) ?? throw new CliException("Failed to parse YAML: empty document");
        if (node is not System.Text.Json.Nodes.JsonObject)
            throw new CliException("Failed to parse YAML: expected a mapping at the top level");
        ProfilePut? put;
        try
        {
            put = node.Deserialize(ApiJsonContext.Default.ProfilePut);
        }
        catch (JsonException e)
        {
            throw new CliException($"Failed to parse YAML: {e.Message}", e);
        }

        return new ProfilePut
        {
            Description = put?.Description ?? "",
            Config = put?.Config ?? new(),
            Devices = put?.Devices ?? new(),
        };
    }

    private const string EditHeader = """
        ### This is a YAML representation of the profile.
        ### Any line starting with a '# will be ignored.
        ###
        ### The name and used_by fields are read-only; rename with "hlx profile rename".

        """;

    private static async Task<int> EditAsync(CommandCall call)
    {
        var (remote, name) = Target(call);
        using var client = call.Ctx.Connect(remote);

        // Non-interactive: the new YAML comes from stdin (lxc profile edit p < file.yaml).
        if (!call.Ctx.StdinIsTerminal)
        {
            var put = ParseProfileYaml(await call.Ctx.In.ReadToEndAsync());
            var current = await client.QueryAsync(HttpMethod.Get, ProfilePath(name), null, null);
            await PutAsync(client, name, put, current.ETag);
            return 0;
        }

        var result = await client.QueryAsync(HttpMethod.Get, ProfilePath(name), null, null);
        var content = EditHeader + Formatter.ToYaml(result.Metadata);
        var temp = Path.Combine(Path.GetTempPath(), $"hlx_editor_{Guid.NewGuid():N}.yaml");
        try
        {
            while (true)
            {
                await File.WriteAllTextAsync(temp, content);
                RunEditor(call.Ctx, temp);
                content = await File.ReadAllTextAsync(temp);
                try
                {
                    await PutAsync(client, name, ParseProfileYaml(content), result.ETag);
                    return 0;
                }
                catch (CliException e)
                {
                    // Same recovery as lxc: show the problem and offer to fix it in the editor again.
                    call.Ctx.Err.WriteLine($"Config parsing error: {e.Message}");
                    call.Ctx.Err.WriteLine("Press enter to open the editor again or ctrl+c to abort change");
                    if (await call.Ctx.In.ReadLineAsync() is null)
                        throw;
                }
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static void RunEditor(CliContext ctx, string file)
    {
        var editor = ctx.Env("VISUAL") is { Length: > 0 } visual ? visual
            : ctx.Env("EDITOR") is { Length: > 0 } env ? env : "vi";

        // $EDITOR may carry arguments ("code --wait"), so let the shell split it.
        // Interactive: it inherits the terminal (no pipes), and is not killed with hlx.
        Process process;
        try
        {
            process = HostCommand.Start("/bin/sh", ["-c", editor + " \"$1\"", "hlx-editor", file], HostCommandOptions.Detached);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            throw new CliException($"Failed to start editor \"{editor}\"");
        }
        using var _ = process;
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new CliException($"Editor \"{editor}\" exited with status {process.ExitCode}");
    }
}
