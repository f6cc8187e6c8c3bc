using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Images.Tar;
using Hyperlxd.Interop.Linux;

namespace Hyperlxd.Instances.Backups;

/// <summary>
/// Where a backup tarball keeps the volume and its snapshots: <c>backup/container</c> and <c>backup/snapshots/SNAP</c>
/// for a container, <c>backup/volume</c> and <c>backup/volume-snapshots/SNAP</c> for a custom volume (LXD 5.0.2);
/// an optimized tarball has <c>VOLUME.bin</c> and <c>SNAPSHOTS/SNAP.bin</c> streams there instead.
/// </summary>
/// <remarks>A virtual machine's volume is its config directory plus a block file: <c>VOLUME.img</c> and <c>SNAPSHOTS/SNAP.img</c>, raw.</remarks>
public sealed record BackupLayout(string Volume, string Snapshots, bool HasBlocks = false)
{
    public static readonly BackupLayout Container = new("backup/container", "backup/snapshots");
    public static readonly BackupLayout Custom = new("backup/volume", "backup/volume-snapshots");
    public static readonly BackupLayout VirtualMachine = new("backup/virtual-machine", "backup/virtual-machine-snapshots", HasBlocks: true);

    public string VolumeBlock => Volume + ".img";

    public string SnapshotBlock(string snapshot) => $"{Snapshots}/{snapshot}.img";

    public string VolumeStream => Volume + ".bin";

    public string SnapshotDir(string snapshot) => $"{Snapshots}/{snapshot}";

    public string SnapshotStream(string snapshot) => $"{Snapshots}/{snapshot}.bin";
}

/// <summary>
/// LXD 5.0.2's backup tarball: <c>backup/index.yaml</c>, then each snapshot's directory and the volume's (see
/// <see cref="BackupLayout"/>); an instance's volume (metadata.yaml, templates/, rootfs/) has a <c>backup.yaml</c>
/// in it, as LXD keeps one in every instance volume. Written by GNU tar (numeric ids, xattrs, hard links, device
/// nodes as on disk); read back through <see cref="SafeTar"/> only.
/// </summary>
public static partial class BackupTarball
{
    public const string Index = "backup/index.yaml";
    public const string ContainerPrefix = "backup/container";
    public const string SnapshotsPrefix = "backup/snapshots";
    private const int MaxIndexBytes = 4 << 20;

    /// <summary>
    /// Writes the tarball to <paramref name="target"/>: <paramref name="indexYaml"/> and <paramref name="backupYaml"/>
    /// (null for a custom volume, which has none) are staged in <paramref name="workDir"/>; the volume and snapshot
    /// directories are archived as they are.
    /// </summary>
    public static async Task WriteAsync(string target, string workDir, string indexYaml, string? backupYaml,
        IReadOnlyList<(string Name, string Path)> snapshots, string volumePath, string compression, CancellationToken ct, BackupLayout? layout = null,
        IReadOnlyList<string>? idMaps = null)
    {
        layout ??= BackupLayout.Container;
        Directory.CreateDirectory(Path.Combine(workDir, layout.Volume));
        await File.WriteAllTextAsync(Path.Combine(workDir, Index), indexYaml, ct);
        if (backupYaml is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(workDir, layout.Volume, "backup.yaml"), backupYaml, ct);
        }
        var args = new List<string> { "--create", "--file", target, "--format=posix", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--no-recursion", "-C", workDir, Index, "--recursion" };
        if (CompressionAlgorithms.TarOption(compression) is { } option)
        {
            args.Add(option);
        }
        args.AddRange(idMaps ?? []); // --owner-map/--group-map of a shifted disk
        // Each directory is named by its path from / and renamed to its place in the archive ("S": never a symlink's target).
        var members = new List<string>();
        foreach (var (name, path) in snapshots)
        {
            members.Add(Transform(args, path, layout.SnapshotDir(name)));
        }
        members.Add(Transform(args, volumePath, layout.Volume));
        args.Add("-C");
        args.Add("/");
        args.AddRange(members);
        if (backupYaml is not null)
        {
            args.Add("-C");
            args.Add(workDir);
            args.Add(layout.Volume + "/backup.yaml");
        }
        await RunTarAsync(args, ct);
    }

    private static async Task RunTarAsync(List<string> args, CancellationToken ct)
    {
        var r = await HostCommand.RunUncheckedAsync("tar", args, new HostCommandOptions { Environment = new Dictionary<string, string?> { ["LC_ALL"] = "C" } }, ct);
        // 1: a file changed while it was read (a running instance), which LXD accepts too.
        if (r.ExitCode is not (0 or 1))
        {
            throw new HostCommandFailedException("tar", args, r.ExitCode, r.Stderr);
        }
    }

    public const string OptimizedHeader = "backup/optimized_header.yaml";

    /// <summary>
    /// Writes an optimized tarball as LXD 5.0.2 does on btrfs: index, <c>optimized_header.yaml</c> (every volume a
    /// single root subvolume), <c>snapshots/SNAP.bin</c> oldest first, <c>container.bin</c>. <paramref name="send"/>
    /// writes the streams to the files it is given, staged in <paramref name="workDir"/>.
    /// </summary>
    public static async Task WriteOptimizedAsync(string target, string workDir, string indexYaml, IReadOnlyList<string> snapshots,
        Func<IReadOnlyList<(string Snapshot, string File)>, string, Task> send, string compression, CancellationToken ct, BackupLayout? layout = null)
    {
        layout ??= BackupLayout.Container;
        Directory.CreateDirectory(Path.Combine(workDir, layout.Snapshots));
        await File.WriteAllTextAsync(Path.Combine(workDir, Index), indexYaml, ct);
        var subvolumes = new JsonArray();
        foreach (var snap in snapshots)
        {
            subvolumes.Add((JsonNode)new JsonObject { ["path"] = "/", ["snapshot"] = snap, ["readonly"] = true, ["uuid"] = "" });
        }
        subvolumes.Add((JsonNode)new JsonObject { ["path"] = "/", ["snapshot"] = "", ["readonly"] = false, ["uuid"] = "" });
        using (var header = JsonDocument.Parse(new JsonObject { ["subvolumes"] = subvolumes }.ToJsonString()))
        {
            await File.WriteAllTextAsync(Path.Combine(workDir, OptimizedHeader), YamlJson.ToYaml(header.RootElement), ct);
        }
        var files = snapshots.Select(s => (s, Path.Combine(workDir, layout.SnapshotStream(s)))).ToList();
        await send(files, Path.Combine(workDir, layout.VolumeStream));
        var args = new List<string> { "--create", "--file", target, "--format=posix", "--numeric-owner" };
        if (CompressionAlgorithms.TarOption(compression) is { } option)
        {
            args.Add(option);
        }
        args.AddRange(["-C", workDir, Index, OptimizedHeader]);
        args.AddRange(snapshots.Select(layout.SnapshotStream));
        args.Add(layout.VolumeStream);
        await RunTarAsync(args, ct);
    }

    /// <summary>
    /// An optimized backup's streams, handed to <paramref name="receive"/> as files: each snapshot's (in the order given)
    /// and the volume's are copied out of the tarball (it may be compressed: no seeking into it) to a root-only work
    /// directory under <paramref name="workRoot"/>, which is removed afterwards whatever happens.
    /// </summary>
    public static async Task<T> WithStreamsAsync<T>(string file, BackupLayout layout, IReadOnlyList<string> snapshots, string workRoot,
        Func<IReadOnlyList<(string Snapshot, string File)>, string, Task<T>> receive, CancellationToken ct)
    {
        var work = Path.Combine(workRoot, ".work-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var files = snapshots.Select((s, i) => (s, Path.Combine(work, $"{i}.bin"))).ToList();
            var volumeFile = Path.Combine(work, "volume.bin");
            var members = files.ToDictionary(f => layout.SnapshotStream(f.s), f => f.Item2);
            members[layout.VolumeStream] = volumeFile;
            var budget = new SizeBudget(new DriveInfo(work).AvailableFreeSpace, "the free space of the daemon's backups directory");
            await Task.Run(() => ExtractStreams(file, members, budget), ct);
            return await receive(files, volumeFile);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    /// <summary>Copies the named regular-file members (already checked by <see cref="Inspect"/>) to new files, root-only.</summary>
    public static void ExtractStreams(string file, IReadOnlyDictionary<string, string> members, SizeBudget budget)
    {
        Rewrap(() =>
        {
            using var tar = Compression.OpenTar(file, Compression.Detect(file));
            SafeTar.Walk(tar, (entry, path) =>
            {
                if (members.TryGetValue(path, out var dest) && entry.DataStream is { } data)
                {
                    using var f = new FileStream(dest, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
                    data.CopyTo(f);
                }
            }, budget);
        });
    }

    private static string Transform(List<string> args, string path, string prefix)
    {
        var rel = Path.GetFullPath(path).TrimStart('/');
        var pattern = Regex.Escape(rel).Replace(",", "\\,", StringComparison.Ordinal);
        var replacement = prefix.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("&", "\\&", StringComparison.Ordinal).Replace(",", "\\,", StringComparison.Ordinal);
        args.Add($"--transform=s,^{pattern}(/|$),{replacement}\\1,xS");
        return rel;
    }

    /// <summary>What a checked tarball holds.</summary>
    /// <param name="HasVolume">Members under the layout's volume directory.</param>
    /// <param name="Streams">The optimized members (<c>VOLUME.bin</c>, <c>SNAPSHOTS/SNAP.bin</c>), all regular files.</param>
    /// <param name="Blocks">A VM layout's block files (<c>VOLUME.img</c>, <c>SNAPSHOTS/SNAP.img</c>), all regular files.</param>
    public sealed record Contents(BackupIndex Index, BackupLayout Layout, bool HasVolume, HashSet<string> SnapshotDirs, bool HasOptimized, HashSet<string> Streams, HashSet<string> Blocks)
    {
        /// <summary>
        /// Checks that the tarball holds what its index says, in the one format it claims (directories, or an
        /// optimized backup's streams), with each listed snapshot once; every problem is a 400 naming it.
        /// </summary>
        public void CheckHolds(bool optimized, IReadOnlyList<string> snapshots)
        {
            if (optimized)
            {
                if (HasVolume || SnapshotDirs.Count > 0)
                {
                    throw new BadRequestException("Invalid backup tarball: an optimized backup holds streams (.bin), not directories");
                }
                if (!Streams.Contains(Layout.VolumeStream))
                {
                    throw new BadRequestException($"Invalid backup tarball: {Layout.VolumeStream} is missing");
                }
            }
            else if (HasOptimized)
            {
                throw new BadRequestException("Invalid backup tarball: backup/index.yaml says it is not optimized but it holds streams (.bin)");
            }
            else if (!HasVolume)
            {
                throw new BadRequestException($"Invalid backup tarball: {Layout.Volume} is missing");
            }
            else if (Layout.HasBlocks && !Blocks.Contains(Layout.VolumeBlock))
            {
                throw new BadRequestException($"Invalid backup tarball: {Layout.VolumeBlock} is missing");
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var snap in snapshots)
            {
                Names.ValidateEntityName("snapshot", snap);
                if (optimized ? !Streams.Contains(Layout.SnapshotStream(snap)) : !SnapshotDirs.Contains(snap))
                {
                    throw new BadRequestException($"Invalid backup tarball: snapshot \"{snap}\" is listed in backup/index.yaml but {(optimized ? Layout.SnapshotStream(snap) : Layout.SnapshotDir(snap))} is missing");
                }
                if (!optimized && Layout.HasBlocks && !Blocks.Contains(Layout.SnapshotBlock(snap)))
                {
                    throw new BadRequestException($"Invalid backup tarball: snapshot \"{snap}\" is listed in backup/index.yaml but {Layout.SnapshotBlock(snap)} is missing");
                }
                if (!seen.Add(snap))
                {
                    throw new BadRequestException($"Invalid backup: snapshot \"{snap}\" is listed twice");
                }
            }
        }
    }

    /// <summary>
    /// Reads the whole tarball as an attacker could have made it: SafeTar's rules (no "..", no escaping links,
    /// no device nodes, no member under a symlink), only members under <c>backup/</c> that the layout names, an
    /// index of bounded size, and at most <paramref name="budget"/> bytes unpacked. Every problem is a 400 naming it.
    /// </summary>
    public static Contents Inspect(string file, SizeBudget budget, BackupLayout? layout = null)
    {
        layout ??= BackupLayout.Container;
        BackupIndex? index = null;
        var hasVolume = false;
        var hasOptimized = false;
        var blocks = new HashSet<string>(StringComparer.Ordinal);
        var snapshots = new HashSet<string>(StringComparer.Ordinal);
        var streams = new HashSet<string>(StringComparer.Ordinal);
        Rewrap(() =>
        {
            using var tar = Compression.OpenTar(file, Compression.Detect(file));
            SafeTar.Walk(tar, (entry, path) =>
            {
                if (path == Index)
                {
                    index = ReadIndex(entry.DataStream);
                }
                else if (path == "backup" || path == layout.Snapshots)
                {
                }
                else if (path == layout.Volume || path.StartsWith(layout.Volume + "/", StringComparison.Ordinal))
                {
                    hasVolume = true;
                }
                else if (path.StartsWith(layout.Snapshots + "/", StringComparison.Ordinal))
                {
                    var snap = path[(layout.Snapshots.Length + 1)..].Split('/')[0];
                    if (snap.EndsWith(".bin", StringComparison.Ordinal))
                    {
                        hasOptimized = true;
                        AddStream(streams, entry, path);
                    }
                    else if (layout.HasBlocks && snap.EndsWith(".img", StringComparison.Ordinal))
                    {
                        AddStream(blocks, entry, path);
                    }
                    else
                    {
                        snapshots.Add(snap);
                    }
                }
                else if (path == OptimizedHeader)
                {
                    CheckOptimizedHeader(ReadBounded(entry.DataStream, OptimizedHeader));
                }
                else if (path == layout.VolumeStream)
                {
                    hasOptimized = true;
                    AddStream(streams, entry, path);
                }
                else if (layout.HasBlocks && path == layout.VolumeBlock)
                {
                    AddStream(blocks, entry, path);
                }
                else
                {
                    throw new BadRequestException($"Invalid backup tarball: unexpected entry \"{entry.Name}\" (only backup/index.yaml, {layout.Volume} and {layout.Snapshots} belong in it)");
                }
            }, budget);
        });
        if (index is null)
        {
            throw new BadRequestException("Invalid backup tarball: backup/index.yaml is missing");
        }
        return new Contents(index, layout, hasVolume, snapshots, hasOptimized, streams, blocks);
    }

    private static void AddStream(HashSet<string> streams, System.Formats.Tar.TarEntry entry, string path)
    {
        if (entry.EntryType is not (System.Formats.Tar.TarEntryType.RegularFile or System.Formats.Tar.TarEntryType.V7RegularFile) || !streams.Add(path))
        {
            throw new BadRequestException($"Invalid backup tarball: \"{path}\" must be a single regular file");
        }
    }

    /// <summary>Only what LXD writes for a plain volume: root subvolumes (nested subvolumes are not restored here).</summary>
    private static void CheckOptimizedHeader(string text)
    {
        try
        {
            RefuseAliases(text);
            var node = YamlJson.ToJson(text);
            var subvolumes = node?["subvolumes"] as JsonArray ?? throw new BadRequestException($"Invalid backup tarball: {OptimizedHeader} has no subvolumes list");
            foreach (var sub in subvolumes)
            {
                if (sub?["path"]?.GetValue<string>() is not "/")
                {
                    throw new BadRequestException($"Invalid backup tarball: {OptimizedHeader} lists a nested subvolume, which is not supported");
                }
            }
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or ArgumentException or YamlDotNet.Core.YamlException)
        {
            throw new BadRequestException($"Invalid backup tarball: {OptimizedHeader}: {e.Message}", e);
        }
    }

    private static BackupIndex ReadIndex(Stream? data)
    {
        var text = ReadBounded(data, Index);
        try
        {
            RefuseAliases(text);
            var node = YamlJson.ToJson(text) ?? throw new BadRequestException("Invalid backup tarball: backup/index.yaml is empty");
            TrimTimestamps(node);
            return node.Deserialize(ApiJsonContext.Default.BackupIndex) ?? throw new BadRequestException("Invalid backup tarball: backup/index.yaml is empty");
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or InvalidCastException or ArgumentException
                                      or YamlDotNet.Core.YamlException)
        {
            throw new BadRequestException($"Invalid backup tarball: backup/index.yaml: {e.Message}", e);
        }
    }

    private static string ReadBounded(Stream? data, string what)
    {
        using var buffer = new MemoryStream();
        if (data is not null)
        {
            var chunk = new byte[81920];
            int n;
            while ((n = data.Read(chunk, 0, chunk.Length)) > 0)
            {
                buffer.Write(chunk, 0, n);
                if (buffer.Length > MaxIndexBytes)
                {
                    throw new BadRequestException($"Invalid backup tarball: {what} is larger than {MaxIndexBytes} bytes");
                }
            }
        }
        var text = Encoding.UTF8.GetString(buffer.ToArray());
        if (text.Contains('\0'))
        {
            throw new BadRequestException($"Invalid backup tarball: {what} contains a NUL character");
        }
        return text;
    }

    /// <summary>An alias expands on conversion: a few lines of anchors could be gigabytes ("billion laughs"). LXD never writes any.</summary>
    private static void RefuseAliases(string text)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(text));
        while (parser.MoveNext())
        {
            if (parser.Current is YamlDotNet.Core.Events.AnchorAlias)
            {
                throw new BadRequestException("Invalid backup tarball: backup/index.yaml uses YAML aliases");
            }
        }
    }

    private static readonly HashSet<string> Booleans = new(StringComparer.Ordinal) { "optimized", "optimized_header", "ephemeral", "stateful", "container_only", "instance_only" };
    private static readonly HashSet<string> Numbers = new(StringComparer.Ordinal) { "status_code", "size" };
    private static readonly HashSet<string> Maps = new(StringComparer.Ordinal) { "config", "devices", "expanded_config", "expanded_devices" };

    /// <summary>
    /// YAML scalars arrive as strings: typed fields get their JSON type back (string maps are left as they are),
    /// and Go's nanosecond timestamps ("…05.123456789Z") are cut to the 7 digits .NET parses.
    /// </summary>
    private static void TrimTimestamps(JsonNode? node, bool root = true)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o.ToList())
                {
                    if (value is JsonValue v && v.TryGetValue<string>(out var s))
                    {
                        if (key.EndsWith("_at", StringComparison.Ordinal))
                        {
                            o[key] = TimestampDigits().Replace(s, m => m.Groups[1].Value + m.Groups[2].Value[..Math.Min(7, m.Groups[2].Value.Length)]);
                        }
                        else if (Booleans.Contains(key) && bool.TryParse(s, out var b))
                        {
                            o[key] = b;
                        }
                        else if (Numbers.Contains(key) && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                        {
                            o[key] = n;
                        }
                    }
                    else if (root || !Maps.Contains(key))
                    {
                        TrimTimestamps(value, root: false);
                    }
                }
                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    TrimTimestamps(item, root: false);
                }
                break;
        }
    }

    [GeneratedRegex(@"(T\d\d:\d\d:\d\d\.)(\d+)")]
    private static partial Regex TimestampDigits();

    /// <summary>
    /// Unpacks the members under <paramref name="prefix"/> into <paramref name="targetDir"/> (emptied first, as LXD
    /// does); the volume's <c>backup.yaml</c> is left out: the instance's record is the truth here.
    /// </summary>
    public static void Extract(string file, string prefix, string targetDir, SizeBudget budget)
    {
        Wipe(targetDir);
        Rewrap(() =>
        {
            using var tar = Compression.OpenTar(file, Compression.Detect(file));
            TarExtractor.Extract(tar, targetDir, p =>
                p.StartsWith(prefix + "/", StringComparison.Ordinal) && p != prefix + "/backup.yaml" ? p[(prefix.Length + 1)..] : null, budget);
        });
    }

    /// <summary>Removes what a directory holds, never following a symlink in it.</summary>
    private static void Wipe(string dir)
    {
        foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos())
        {
            if (entry is DirectoryInfo d && d.LinkTarget is null)
            {
                d.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }
        }
    }

    /// <summary>SafeTar speaks of images; a backup's problems are named as such.</summary>
    private static void Rewrap(Action action)
    {
        try
        {
            action();
        }
        catch (BadRequestException e) when (e.Message.Contains("image tarball", StringComparison.Ordinal))
        {
            throw new BadRequestException(e.Message.Replace("image tarball", "backup tarball", StringComparison.Ordinal).Replace("image root", "backup root", StringComparison.Ordinal), e);
        }
        catch (InvalidDataException e)
        {
            throw new BadRequestException($"Invalid backup tarball: {e.Message}", e);
        }
    }
}
