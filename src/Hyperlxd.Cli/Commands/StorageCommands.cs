using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx storage ...</c> (pools here, volumes in StorageCommands.Volumes.cs), following <c>lxc storage</c>.</summary>
public static partial class StorageCommands
{
    // PUT bodies carry only the writable fields; the read-only ones would go out as nulls otherwise.
    private static readonly ApiJsonContext OmitNulls = new(new JsonSerializerOptions(ApiJsonContext.Default.Options)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    });

    public static IEnumerable<Command> All =>
    [
        new("storage list", "[REMOTE:]", "List storage pools", 0, 1, ["format"], ListAsync, ["ls"]),
        new("storage show", "[REMOTE:]POOL", "Show a storage pool", 1, 1, ["format"], ShowAsync),
        new("storage info", "[REMOTE:]POOL", "Show a storage pool's space and users", 1, 1, [], InfoAsync),
        new("storage create", "[REMOTE:]POOL DRIVER [KEY=VALUE...]", "Create a storage pool", 2, Command.Unlimited, ["description"], CreateAsync),
        new("storage delete", "[REMOTE:]POOL", "Delete a storage pool", 1, 1, [], DeleteAsync, ["rm"]),
        new("storage get", "[REMOTE:]POOL KEY", "Get a storage pool config value", 2, 2, [], GetAsync),
        new("storage set", "[REMOTE:]POOL KEY=VALUE...|KEY VALUE", "Set storage pool config keys", 2, Command.Unlimited, [], SetAsync),
        new("storage unset", "[REMOTE:]POOL KEY", "Unset a storage pool config key", 2, 2, [], UnsetAsync),
        .. VolumeCommands,
    ];

    public static string PoolPath(string pool) => "/1.0/storage-pools/" + Uri.EscapeDataString(pool);

    private static (string Remote, string Pool) Pool(CommandCall call)
    {
        var (remote, pool) = call.Ctx.Config.ParseRemote(call.Args[0]);
        if (pool.Length == 0)
            throw new UsageException("Missing pool name");
        return (remote, pool);
    }

    private static async Task<int> ListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, name) = call.Args.Count > 0 ? call.Ctx.Config.ParseRemote(call.Args[0]) : (call.Ctx.Config.DefaultRemote, "");
        if (name.Length > 0)
            throw new UsageException($"Unexpected \"{name}\": storage list takes only a remote (\"REMOTE:\")");

        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, "/1.0/storage-pools?recursion=1", null, null);
        if (format != OutputFormat.Table)
        {
            Formatter.Write(call.Out, result.Metadata, format);
            return 0;
        }

        var pools = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.ListStoragePool, "/1.0/storage-pools");
        call.Out.Write(PoolTable(pools));
        return 0;
    }

    /// <summary>lxc's columns; STATE is the upper-cased status ("CREATED").</summary>
    public static string PoolTable(IEnumerable<StoragePool> pools) => Formatter.Table(
        ["NAME", "DRIVER", "SOURCE", "DESCRIPTION", "USED BY", "STATE"],
        pools.OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => (IReadOnlyList<string>)
        [
            p.Name, p.Driver, p.Config.GetValueOrDefault("source", ""), p.Description,
            p.UsedBy.Count.ToString(CultureInfo.InvariantCulture), p.Status.ToUpperInvariant(),
        ]));

    private static async Task<int> ShowAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, pool) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, PoolPath(pool), null, null);
        Formatter.Write(call.Out, result.Metadata, format);
        return 0;
    }

    private static async Task<int> InfoAsync(CommandCall call)
    {
        var (remote, name) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        var pool = await client.GetAsync(PoolPath(name), ApiJsonContext.Default.StoragePool);
        var resources = await client.GetAsync(PoolPath(name) + "/resources", ApiJsonContext.Default.StoragePoolResources);
        call.Out.Write(Formatter.ToYaml(PoolInfo(pool, resources)));
        return 0;
    }

    /// <summary>The document <c>lxc storage info</c> prints: the pool, its space, and its users grouped by kind.</summary>
    public static JsonElement PoolInfo(StoragePool pool, StoragePoolResources resources)
    {
        var usedBy = new JsonObject();
        foreach (var group in pool.UsedBy.Select(UsedByEntry).GroupBy(e => e.Kind).OrderBy(g => g.Key, StringComparer.Ordinal))
            usedBy[group.Key] = new JsonArray(group.Select(e => (JsonNode?)JsonValue.Create(e.Name)).ToArray());
        var doc = new JsonObject
        {
            ["info"] = new JsonObject
            {
                ["description"] = pool.Description,
                ["driver"] = pool.Driver,
                ["name"] = pool.Name,
                ["space used"] = ByteSize(resources.Space.Used),
                ["total space"] = ByteSize(resources.Space.Total),
            },
            ["used by"] = usedBy,
        };
        using var parsed = JsonDocument.Parse(doc.ToJsonString());
        return parsed.RootElement.Clone();
    }

    /// <summary>"/1.0/instances/c1?project=x" → ("instances", "c1"); volumes keep their type ("custom/v1").</summary>
    public static (string Kind, string Name) UsedByEntry(string url)
    {
        var path = url.Split('?')[0];
        var parts = path.TrimStart('/').Split('/');
        if (parts.Length >= 6 && parts[1] == "storage-pools" && parts[3] == "volumes")
            return ("volumes", Uri.UnescapeDataString(string.Join('/', parts.Skip(4))));
        if (parts.Length >= 3)
            return (parts[1], Uri.UnescapeDataString(string.Join('/', parts.Skip(2))));
        return ("other", url);
    }

    /// <summary>IEC sizes with two decimals, like lxc (units.GetByteSizeStringIEC).</summary>
    public static string ByteSize(ulong bytes)
    {
        if (bytes < 1024)
            return bytes.ToString(CultureInfo.InvariantCulture) + "B";
        string[] units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        var value = (double)bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value.ToString("0.00", CultureInfo.InvariantCulture) + units[unit];
    }

    private static async Task<int> CreateAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var body = new StoragePoolsPost
        {
            Name = pool,
            Driver = call.Args[1],
            Description = call.Flag("description") ?? "",
            Config = ProfileCommands.ParsePairs(call.Args.Skip(2)),
        };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Post, "/1.0/storage-pools", HyperlxdClient.Serialize(body, OmitNulls.StoragePoolsPost), null);
        call.Out.WriteLine($"Storage pool {pool} created");
        return 0;
    }

    private static async Task<int> DeleteAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Delete, PoolPath(pool), null, null);
        call.Out.WriteLine($"Storage pool {pool} deleted");
        return 0;
    }

    private static async Task<int> GetAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        var p = await client.GetAsync(PoolPath(pool), ApiJsonContext.Default.StoragePool);
        call.Out.WriteLine(p.Config.GetValueOrDefault(call.Args[1], ""));
        return 0;
    }

    private static async Task<int> SetAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var values = ProfileCommands.ParseKeyValues(call.Args.Skip(1).ToList());
        await UpdatePoolAsync(call, remote, pool, config => ConfigEdits.Set(config, values));
        return 0;
    }

    private static async Task<int> UnsetAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var key = call.Args[1];
        await UpdatePoolAsync(call, remote, pool, config => ConfigEdits.Unset(config, key));
        return 0;
    }

    /// <summary>GET, change the config, PUT with If-Match so a concurrent edit is refused rather than lost.</summary>
    private static async Task UpdatePoolAsync(CommandCall call, string remote, string pool, Action<Dictionary<string, string>> change)
    {
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, PoolPath(pool), null, null);
        var current = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.StoragePool, PoolPath(pool));
        var config = current.Config ?? new();
        change(config);
        var put = new StoragePoolPut { Description = current.Description ?? "", Config = config };
        await client.QueryAsync(HttpMethod.Put, PoolPath(pool), HyperlxdClient.Serialize(put, OmitNulls.StoragePoolPut), result.ETag);
    }
}
