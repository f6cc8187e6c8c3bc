using System.Text.Json;
using System.Text.Json.Nodes;
using Hyperlxd.Core;

namespace Hyperlxd.Daemon.Commands;

/// <summary>
/// <c>hyperlxd init</c>: configures a running daemon through its own API, like <c>lxd init</c>.
/// A preseed is applied all or nothing: storage pools, then networks, then profiles (which may use
/// both; each step undone on failure), the server config last in one request.
/// </summary>
public static class InitCommand
{
    private static readonly string[] Supported = { "config", "networks", "profiles", "storage_pools" };
    private static readonly string[] NotYet = { "cluster", "projects" };

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

    /// <summary>Marks an --auto run: like lxd init --auto, a "default" dir pool and a root disk when there are none, and lxdbr0 with eth0 when no managed network exists.</summary>
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

    /// <summary>
    /// What --auto adds, as lxd init --auto: a "default" dir pool when no pool exists and a root disk on it
    /// when the default profile has none; a managed bridge lxdbr0 (auto IPv4 and IPv6) when no managed
    /// network exists, with an eth0 nic on it in the default profile.
    /// </summary>
    private static void AddAutoDefaults(JsonObject preseed, JsonElement pools, JsonElement networks, JsonElement defaultProfile)
    {
        var profile = JsonNode.Parse(defaultProfile.GetRawText())!.AsObject();
        var devices = profile["devices"]!.AsObject();
        var changed = false;
        var poolName = "default";
        if (pools.GetArrayLength() == 0)
        {
            preseed["storage_pools"] = new JsonArray(new JsonObject { ["name"] = poolName, ["driver"] = "dir" });
        }
        else
        {
            poolName = pools[0].GetString()!.Split('/')[^1];
        }
        if (!devices.Any(d => d.Value?["path"]?.GetValue<string>() == "/"))
        {
            devices["root"] = new JsonObject { ["type"] = "disk", ["path"] = "/", ["pool"] = poolName };
            changed = true;
        }
        if (!networks.EnumerateArray().Any(n => n.GetProperty("managed").GetBoolean()))
        {
            preseed["networks"] = new JsonArray(new JsonObject
            {
                ["name"] = DefaultBridge,
                ["type"] = "bridge",
                ["config"] = new JsonObject { ["ipv4.address"] = "auto", ["ipv6.address"] = "auto" },
            });
            if (!devices.ContainsKey("eth0"))
            {
                devices["eth0"] = new JsonObject { ["type"] = "nic", ["name"] = "eth0", ["network"] = DefaultBridge };
                changed = true;
            }
        }
        if (changed)
        {
            preseed["profiles"] = new JsonArray(new JsonObject
            {
                ["name"] = "default",
                ["description"] = profile["description"]?.DeepClone(),
                ["config"] = profile["config"]?.DeepClone(),
                ["devices"] = devices.DeepClone(),
            });
        }
    }

    private const string DefaultBridge = "lxdbr0";

    private static async Task ApplyAsync(LocalClient client, JsonObject preseed)
    {
        await using var revert = new Reverter();
        if (preseed[AutoStorage] is not null)
        {
            AddAutoDefaults(preseed, await client.SendAsync(HttpMethod.Get, "/1.0/storage-pools"),
                await client.SendAsync(HttpMethod.Get, "/1.0/networks?recursion=1"),
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
        foreach (var node in preseed["networks"] as JsonArray ?? new JsonArray())
        {
            await ApplyNetworkAsync(client, revert, node);
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

    /// <summary>A preseed network: created, or (when it exists, as lxd init does) its config and description replaced; undone on a later failure.</summary>
    private static async Task ApplyNetworkAsync(LocalClient client, Reverter revert, JsonNode? node)
    {
        if (node is not JsonObject network || network["name"]?.GetValue<string>() is not { Length: > 0 } name)
        {
            throw new CommandException("invalid preseed: every network needs a \"name\"");
        }
        var url = "/1.0/networks/" + Uri.EscapeDataString(name);
        JsonElement? old = null;
        try
        {
            old = await client.SendAsync(HttpMethod.Get, url);
        }
        catch (CommandException)
        {
        }
        if (old is { } current && current.GetProperty("managed").GetBoolean())
        {
            var body = new JsonObject
            {
                ["description"] = network["description"]?.DeepClone() ?? current.GetProperty("description").GetString(),
                ["config"] = network["config"]?.DeepClone() ?? new JsonObject(),
            };
            await client.SendAsync(HttpMethod.Put, url, body.ToJsonString());
            var previous = new JsonObject
            {
                ["description"] = current.GetProperty("description").GetString(),
                ["config"] = JsonNode.Parse(current.GetProperty("config").GetRawText()),
            }.ToJsonString();
            revert.Add(() => client.SendAsync(HttpMethod.Put, url, previous));
        }
        else
        {
            var body = new JsonObject
            {
                ["name"] = name,
                ["type"] = network["type"]?.DeepClone() ?? "bridge",
                ["description"] = network["description"]?.DeepClone() ?? "",
                ["config"] = network["config"]?.DeepClone() ?? new JsonObject(),
            };
            await client.SendAsync(HttpMethod.Post, "/1.0/networks", body.ToJsonString());
            revert.Add(() => client.SendAsync(HttpMethod.Delete, url));
        }
    }
}
