using System.Globalization;
using Hyperlxd.Api;
using Hyperlxd.Cli.Client;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Commands;

/// <summary><c>hlx storage volume ...</c>: custom volumes and their snapshots (<c>/volumes/custom/...</c>).</summary>
public static partial class StorageCommands
{
    private static IEnumerable<Command> VolumeCommands =>
    [
        new("storage volume list", "[REMOTE:]POOL", "List storage volumes", 1, 1, ["format"], VolumeListAsync, ["ls"]),
        new("storage volume create", "[REMOTE:]POOL VOLUME [KEY=VALUE...]", "Create a custom storage volume", 2, Command.Unlimited, ["description"], VolumeCreateAsync),
        new("storage volume show", "[REMOTE:]POOL VOLUME[/SNAPSHOT]", "Show a custom storage volume or snapshot", 2, 2, ["format"], VolumeShowAsync),
        new("storage volume delete", "[REMOTE:]POOL VOLUME[/SNAPSHOT]", "Delete a custom storage volume or snapshot", 2, 2, [], VolumeDeleteAsync, ["rm"]),
        new("storage volume rename", "[REMOTE:]POOL OLD[/SNAPSHOT] NEW[/SNAPSHOT]", "Rename a custom storage volume or snapshot", 3, 3, [], VolumeRenameAsync, ["mv"]),
        new("storage volume snapshot", "[REMOTE:]POOL VOLUME [SNAPSHOT]", "Snapshot a custom storage volume", 2, 3, [], VolumeSnapshotAsync),
        new("storage volume restore", "[REMOTE:]POOL VOLUME SNAPSHOT", "Restore a custom storage volume from a snapshot", 3, 3, [], VolumeRestoreAsync),
        new("storage volume get", "[REMOTE:]POOL VOLUME KEY", "Get a custom storage volume config value", 3, 3, [], VolumeGetAsync),
        new("storage volume set", "[REMOTE:]POOL VOLUME KEY=VALUE...|KEY VALUE", "Set custom storage volume config keys", 3, Command.Unlimited, [], VolumeSetAsync),
    ];

    /// <summary><c>vol</c> → /volumes/custom/vol; <c>vol/snap</c> → /volumes/custom/vol/snapshots/snap.</summary>
    public static string VolumePath(string pool, string volume)
    {
        var slash = volume.IndexOf('/');
        var basePath = PoolPath(pool) + "/volumes/custom/";
        if (slash < 0)
            return basePath + Uri.EscapeDataString(volume);
        return basePath + Uri.EscapeDataString(volume[..slash]) + "/snapshots/" + Uri.EscapeDataString(volume[(slash + 1)..]);
    }

    private static string Volume(CommandCall call, int index)
    {
        var name = call.Args[index];
        if (name.Length == 0 || name.StartsWith('/') || name.EndsWith('/'))
            throw new UsageException($"Invalid volume name \"{name}\"");
        return name;
    }

    private static async Task<int> VolumeListAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Table, OutputFormat.Table, OutputFormat.Json, OutputFormat.Yaml);
        var (remote, pool) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, PoolPath(pool) + "/volumes?recursion=1", null, null);
        if (format != OutputFormat.Table)
        {
            Formatter.Write(call.Out, result.Metadata, format);
            return 0;
        }

        var volumes = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.ListStorageVolume, PoolPath(pool) + "/volumes");
        call.Out.Write(VolumeTable(volumes));
        return 0;
    }

    /// <summary>lxc's columns; snapshots ("vol/snap") show as "TYPE (snapshot)".</summary>
    public static string VolumeTable(IEnumerable<StorageVolume> volumes) => Formatter.Table(
        ["TYPE", "NAME", "DESCRIPTION", "CONTENT-TYPE", "USED BY"],
        volumes.Select(v => (Type: v.Name.Contains('/') ? v.Type + " (snapshot)" : v.Type, Volume: v))
            .OrderBy(v => v.Type, StringComparer.Ordinal).ThenBy(v => v.Volume.Name, StringComparer.Ordinal)
            .Select(v => (IReadOnlyList<string>)
            [
                v.Type, v.Volume.Name, v.Volume.Description, v.Volume.ContentType,
                v.Volume.UsedBy.Count.ToString(CultureInfo.InvariantCulture),
            ]));

    private static async Task<int> VolumeCreateAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var name = Volume(call, 1);
        if (name.Contains('/'))
            throw new UsageException($"Invalid volume name \"{name}\": use \"hlx storage volume snapshot\" for snapshots");
        var body = new StorageVolumesPost
        {
            Name = name,
            Type = "custom",
            ContentType = "filesystem",
            Description = call.Flag("description") ?? "",
            Config = ProfileCommands.ParsePairs(call.Args.Skip(2)),
        };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Post, PoolPath(pool) + "/volumes/custom",
            HyperlxdClient.Serialize(body, OmitNulls.StorageVolumesPost), null);
        call.Out.WriteLine($"Storage volume {name} created");
        return 0;
    }

    private static async Task<int> VolumeShowAsync(CommandCall call)
    {
        var format = Formatter.ParseFormat(call.Flag("format"), OutputFormat.Yaml, OutputFormat.Yaml, OutputFormat.Json);
        var (remote, pool) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, VolumePath(pool, Volume(call, 1)), null, null);
        Formatter.Write(call.Out, result.Metadata, format);
        return 0;
    }

    private static async Task<int> VolumeDeleteAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var name = Volume(call, 1);
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Delete, VolumePath(pool, name), null, null);
        call.Out.WriteLine(name.Contains('/') ? $"Storage volume snapshot {name} deleted" : $"Storage volume {name} deleted");
        return 0;
    }

    private static async Task<int> VolumeRenameAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var old = Volume(call, 1);
        var target = Volume(call, 2);
        var snapshot = old.Contains('/');
        if (snapshot != target.Contains('/') || (snapshot && old[..old.IndexOf('/')] != target[..target.IndexOf('/')]))
            throw new UsageException("A snapshot can only be renamed to a snapshot of the same volume (VOLUME/OLD VOLUME/NEW)");

        using var client = call.Ctx.Connect(remote);
        var body = snapshot
            ? HyperlxdClient.Serialize(new StorageVolumeSnapshotPost { Name = target[(target.IndexOf('/') + 1)..] }, OmitNulls.StorageVolumeSnapshotPost)
            : HyperlxdClient.Serialize(new StorageVolumePost { Name = target }, OmitNulls.StorageVolumePost);
        await client.QueryAsync(HttpMethod.Post, VolumePath(pool, old), body, null);
        call.Out.WriteLine($"Renamed storage volume from \"{old}\" to \"{target}\"");
        return 0;
    }

    private static async Task<int> VolumeSnapshotAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var volume = Volume(call, 1);
        if (volume.Contains('/'))
            throw new UsageException($"Invalid volume name \"{volume}\"");
        // No name: the server picks the next snapN, as with lxc.
        var body = new StorageVolumeSnapshotsPost { Name = call.Args.Count > 2 ? call.Args[2] : null };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Post, VolumePath(pool, volume) + "/snapshots",
            HyperlxdClient.Serialize(body, OmitNulls.StorageVolumeSnapshotsPost), null);
        return 0;
    }

    private static async Task<int> VolumeRestoreAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var volume = Volume(call, 1);
        var put = new StorageVolumePut { Restore = call.Args[2] };
        using var client = call.Ctx.Connect(remote);
        await client.QueryAsync(HttpMethod.Put, VolumePath(pool, volume), HyperlxdClient.Serialize(put, OmitNulls.StorageVolumePut), null);
        return 0;
    }

    private static async Task<int> VolumeGetAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        using var client = call.Ctx.Connect(remote);
        var volume = await client.GetAsync(VolumePath(pool, Volume(call, 1)), ApiJsonContext.Default.StorageVolume);
        call.Out.WriteLine(volume.Config.GetValueOrDefault(call.Args[2], ""));
        return 0;
    }

    private static async Task<int> VolumeSetAsync(CommandCall call)
    {
        var (remote, pool) = Pool(call);
        var name = Volume(call, 1);
        var values = ProfileCommands.ParseKeyValues(call.Args.Skip(2).ToList());
        var path = VolumePath(pool, name);
        using var client = call.Ctx.Connect(remote);
        var result = await client.QueryAsync(HttpMethod.Get, path, null, null);
        var current = HyperlxdClient.Decode(result.Metadata, ApiJsonContext.Default.StorageVolume, path);
        var config = current.Config ?? new();
        ConfigEdits.Set(config, values);

        var put = new StorageVolumePut { Description = current.Description ?? "", Config = config };
        await client.QueryAsync(HttpMethod.Put, path, HyperlxdClient.Serialize(put, OmitNulls.StorageVolumePut), result.ETag);
        return 0;
    }
}
