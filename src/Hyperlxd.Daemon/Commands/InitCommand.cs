using System.Text.Json;
using System.Text.Json.Nodes;
using Hyperlxd.Core;

namespace Hyperlxd.Daemon.Commands;

/// <summary>
/// <c>hyperlxd init</c>: configures a running daemon through its own API, like <c>lxd init</c>.
/// A preseed is applied all or nothing: profiles first (each undone on failure), the server config
/// last in one request.
/// </summary>
public static class InitCommand
{
    private static readonly string[] Supported = { "config", "profiles", "storage_pools" };
    private static readonly string[] NotYet = { "networks", "cluster", "projects" };

    public static async Task<int> RunAsync(string[] args)
    {
        JsonObject preseed;
        if (args.Length == 1 && args[0] == "--preseed")
        {
            preseed = ParsePreseed(await Console.In.ReadToEndAsync());
        }
        else if (args.Length >= 1 && args[0] == "--auto")
        {
            preseed = AutoPreseed(args[1..]);
        }
        else
        {
            throw new UsageException("init needs --auto or --preseed");
        }
        using var client = new LocalClient(Path.Combine(DaemonOptions.DefaultStateDir, "unix.socket"));
        await ApplyAsync(client, preseed);
        return 0;
    }

    /// <summary>Marks an --auto run: like lxd init --auto, a "default" dir pool and a root disk when there are none.</summary>
    private const string AutoStorage = "_auto_storage";

    private static JsonObject AutoPreseed(string[] args)
    {
        string? address = null, port = null, password = null;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--network-address": address = value; break;
                case "--network-port": port = value; break;
                case "--trust-password": password = value; break;
                default: throw new UsageException($"unknown option \"{args[i]}\"");
            }
            i++;
        }
        var config = new JsonObject();
        if (address is not null)
        {
            config["core.https_address"] = (address.Contains(':') && !address.StartsWith('[') ? $"[{address}]" : address) + ":" + (port ?? "8443");
        }
        else if (port is not null)
        {
            throw new UsageException("--network-port needs --network-address");
        }
        if (password is not null)
        {
            config["core.trust_password"] = password;
        }
        return new JsonObject { ["config"] = config, [AutoStorage] = true };
    }

    private static JsonObject ParsePreseed(string yaml)
    {
        JsonNode? doc;
        try
        {
            doc = Api.YamlJson.ToJson(yaml);
        }
        catch (FormatException e)
        {
            throw new CommandException($"invalid preseed: {e.Message}");
        }
        if (doc is null)
        {
            return new JsonObject();
        }
        if (doc is not JsonObject root)
        {
            throw new CommandException("invalid preseed: expected a YAML mapping at the top");
        }
        foreach (var (key, value) in root)
        {
            if (NotYet.Contains(key) && value is JsonArray { Count: > 0 })
            {
                throw new CommandException($"preseed section \"{key}\" is not supported by this Hyperlxd version yet");
            }
            if (!Supported.Contains(key) && !NotYet.Contains(key))
            {
                throw new CommandException($"invalid preseed: unknown section \"{key}\"");
            }
        }
        return root;
    }

    /// <summary>Adds a "default" dir pool when no pool exists, and a root disk on it when the default profile has none.</summary>
    private static void AddDefaultStorage(JsonObject preseed, System.Text.Json.JsonElement pools, System.Text.Json.JsonElement defaultProfile)
    {
        var poolName = "default";
        if (pools.GetArrayLength() == 0)
        {
            preseed["storage_pools"] = new JsonArray(new JsonObject { ["name"] = poolName, ["driver"] = "dir" });
        }
        else
        {
            poolName = pools[0].GetString()!.Split('/')[^1];
        }
        var devices = defaultProfile.GetProperty("devices");
        if (devices.EnumerateObject().Any(d => d.Value.TryGetProperty("path", out var p) && p.GetString() == "/"))
        {
            return;
        }
        var profile = JsonNode.Parse(defaultProfile.GetRawText())!.AsObject();
        profile["devices"]!.AsObject()["root"] = new JsonObject { ["type"] = "disk", ["path"] = "/", ["pool"] = poolName };
        preseed["profiles"] = new JsonArray(new JsonObject
        {
            ["name"] = "default",
            ["description"] = profile["description"]?.DeepClone(),
            ["config"] = profile["config"]?.DeepClone(),
            ["devices"] = profile["devices"]!.DeepClone(),
        });
    }

    private static async Task ApplyAsync(LocalClient client, JsonObject preseed)
    {
        await using var revert = new Reverter();
        if (preseed[AutoStorage] is not null)
        {
            AddDefaultStorage(preseed, await client.SendAsync(HttpMethod.Get, "/1.0/storage-pools"),
                await client.SendAsync(HttpMethod.Get, "/1.0/profiles/default"));
        }
        foreach (var node in preseed["storage_pools"] as JsonArray ?? new JsonArray())
        {
            if (node is not JsonObject pool || pool["name"]?.GetValue<string>() is not { Length: > 0 } name)
            {
                throw new CommandException("invalid preseed: every storage pool needs a \"name\"");
            }
            await client.SendAsync(HttpMethod.Post, "/1.0/storage-pools", pool.ToJsonString());
            revert.Add(() => client.SendAsync(HttpMethod.Delete, "/1.0/storage-pools/" + Uri.EscapeDataString(name)));
        }
        foreach (var node in preseed["profiles"] as JsonArray ?? new JsonArray())
        {
            if (node is not JsonObject profile || profile["name"]?.GetValue<string>() is not { Length: > 0 } name)
            {
                throw new CommandException("invalid preseed: every profile needs a \"name\"");
            }
            var url = "/1.0/profiles/" + Uri.EscapeDataString(name);
            JsonElement? old = null;
            try
            {
                old = await client.SendAsync(HttpMethod.Get, url);
            }
            catch (CommandException)
            {
            }
            if (old is { } current)
            {
                var body = new JsonObject
                {
                    ["description"] = profile["description"]?.DeepClone() ?? current.GetProperty("description").GetString(),
                    ["config"] = profile["config"]?.DeepClone() ?? new JsonObject(),
                    ["devices"] = profile["devices"]?.DeepClone() ?? new JsonObject(),
                };
                await client.SendAsync(HttpMethod.Put, url, body.ToJsonString());
                var previous = new JsonObject
                {
                    ["description"] = current.GetProperty("description").GetString(),
                    ["config"] = JsonNode.Parse(current.GetProperty("config").GetRawText()),
                    ["devices"] = JsonNode.Parse(current.GetProperty("devices").GetRawText()),
                }.ToJsonString();
                revert.Add(() => client.SendAsync(HttpMethod.Put, url, previous));
            }
            else
            {
                await client.SendAsync(HttpMethod.Post, "/1.0/profiles", profile.ToJsonString());
                revert.Add(() => client.SendAsync(HttpMethod.Delete, url));
            }
        }
        if (preseed["config"] is JsonObject config && config.Count > 0)
        {
            await client.SendAsync(HttpMethod.Patch, "/1.0", new JsonObject { ["config"] = config.DeepClone() }.ToJsonString());
        }
        revert.Success();
    }
}
