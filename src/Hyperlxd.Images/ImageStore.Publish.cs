using System.Text;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Images.Tar;
using Hyperlxd.Interop.Linux;
using YamlDotNet.RepresentationModel;

namespace Hyperlxd.Images;

/// <summary>
/// What <c>lxc publish</c> makes an image from: a stopped instance's (or snapshot's) volume laid out as
/// LXD's (<c>metadata.yaml</c>, <c>templates/</c>, <c>rootfs/</c> or <c>root.img</c> + <c>boot/</c>), its ids
/// already those of the image (idmapped mounts leave the disk unshifted).
/// </summary>
/// <param name="Properties">Replace the image's properties when set (LXD: only when the request has some).</param>
/// <param name="DiskIdmap">The map a chown-shifted container disk holds (none: the image's ids): the tarball is unshifted through it.</param>
public sealed record PublishSource(
    string VolumePath,
    string Type,
    string Architecture,
    Dictionary<string, string>? Properties,
    DateTimeOffset? ExpiresAt,
    string? CompressionAlgorithm,
    IReadOnlyList<PublishIdRange>? DiskIdmap = null);

/// <summary>One line of an id map: host ids <see cref="HostId"/>… are container ids <see cref="NsId"/>… (LXD's idmap entry).</summary>
public sealed record PublishIdRange(bool IsUid, bool IsGid, long HostId, long NsId, long Range);

public sealed partial class ImageStore
{
    /// <summary>
    /// Writes the unified tarball LXD's publish writes, straight into an upload (hashed as it streams), and
    /// imports it through the same validation as an uploaded image: the result is launchable at once.
    /// </summary>
    public async Task<Image> PublishAsync(PublishSource source, ImportOptions opts, CancellationToken ct)
    {
        var flag = CompressionAlgorithms.TarOption(CompressionAlgorithms.Check(source.CompressionAlgorithm));
        var work = Path.Combine(Dir, TempPrefix + "publish-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            var yamlPath = Path.Combine(source.VolumePath, "metadata.yaml");
            var yaml = File.Exists(yamlPath) ? await File.ReadAllTextAsync(yamlPath, ct) : null;
            await File.WriteAllTextAsync(Path.Combine(work, "metadata.yaml"), PublishedMetadata(yaml, source), ct);

            // GNU tar keeps what LXD's tar writer keeps: numeric ids, xattrs (capabilities, ACLs), hard links. No --sparse:
            // GNU sparse entries are not regular files to the image validation (a VM disk would be skipped).
            var args = new List<string> { "--create", "--file=-", "--numeric-owner", "--xattrs", "--xattrs-include=*" };
            if (flag is not null)
            {
                args.Add(flag);
            }
            if (source.Type == "container" && source.DiskIdmap is { Count: > 0 } map)
            {
                args.AddRange(await UnshiftMapsAsync([Path.Combine(source.VolumePath, "rootfs")], map, work, ct));
            }
            args.AddRange(["-C", work, "metadata.yaml"]);
            if (source.Type == "virtual-machine")
            {
                // The instance's disk is an overlay on the pool's cached image: the image gets a standalone copy.
                var disk = Path.Combine(source.VolumePath, "root.img");
                if (!File.Exists(disk))
                {
                    throw new BadRequestException("The instance has no disk image (root.img) to publish");
                }
                await HostCommand.RunAsync("qemu-img", ["convert", "-O", "qcow2", disk, Path.Combine(work, "rootfs.img")], HostCommandOptions.Default, ct);
                args.Add("rootfs.img");
            }
            args.AddRange(["-C", source.VolumePath]);
            var parts = new List<string>();
            if (Directory.Exists(Path.Combine(source.VolumePath, "templates")))
            {
                parts.Add("templates");
            }
            if (source.Type == "virtual-machine")
            {
                if (Directory.Exists(Path.Combine(source.VolumePath, "boot")))
                {
                    parts.Add("boot");
                }
            }
            else
            {
                if (!Directory.Exists(Path.Combine(source.VolumePath, "rootfs")))
                {
                    throw new BadRequestException("The instance has no root filesystem (rootfs/) to publish");
                }
                parts.Add("rootfs");
            }
            if (parts.Count == 0)
            {
                args.RemoveRange(args.Count - 2, 2);
            }
            args.AddRange(parts);

            await using var upload = BeginUpload(long.MaxValue);
            upload.StartPart("metadata");
            await RunTarIntoAsync(args, upload, ct);
            return await ImportAsync(upload, opts, ct);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    /// <summary>
    /// GNU tar's --owner-map/--group-map for shifted disks: every host id found under <paramref name="dirs"/> that
    /// the map covers becomes its container id (LXD's tar writer unshifts the same way); ids outside it stay as they
    /// are. The map files are written to <paramref name="work"/>.
    /// </summary>
    public static async Task<string[]> UnshiftMapsAsync(IEnumerable<string> dirs, IReadOnlyList<PublishIdRange> map, string work, CancellationToken ct)
    {
        var uids = new SortedSet<long>();
        var gids = new SortedSet<long>();
        foreach (var dir in dirs)
        {
            var ids = await HostCommand.RunAsync("find", [dir, "-printf", "%U %G\n"], HostCommandOptions.Default, ct);
            foreach (var line in ids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var f = line.Split(' ');
                uids.Add(long.Parse(f[0], System.Globalization.CultureInfo.InvariantCulture));
                gids.Add(long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        string MapFile(string name, IEnumerable<long> found, bool uid)
        {
            var sb = new StringBuilder();
            foreach (var id in found)
            {
                if (map.FirstOrDefault(e => (uid ? e.IsUid : e.IsGid) && id >= e.HostId && id < e.HostId + e.Range) is { } e)
                {
                    sb.Append('+').Append(id).Append(" +").Append(id - e.HostId + e.NsId).Append('\n');
                }
            }
            var path = Path.Combine(work, name);
            File.WriteAllText(path, sb.ToString());
            return path;
        }
        return ["--owner-map=" + MapFile("owner-map", uids, true), "--group-map=" + MapFile("group-map", gids, false)];
    }

    /// <summary>LXD's JSON id map (<c>[{"Isuid":true,"Isgid":false,"Hostid":1000000,"Nsid":0,"Maprange":65536}]</c>); null for none.</summary>
    public static List<PublishIdRange>? ParseIdmap(string? json, string what)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            var list = doc.RootElement.EnumerateArray().Select(x => new PublishIdRange(
                x.GetProperty("Isuid").GetBoolean(), x.GetProperty("Isgid").GetBoolean(),
                x.GetProperty("Hostid").GetInt64(), x.GetProperty("Nsid").GetInt64(), x.GetProperty("Maprange").GetInt64())).ToList();
            return list.Count > 0 ? list : null;
        }
        catch (Exception x) when (x is System.Text.Json.JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new BadRequestException($"Cannot {what}: volatile.last_state.idmap is unreadable ({x.Message})");
        }
    }

    private static async Task RunTarIntoAsync(List<string> args, Upload upload, CancellationToken ct)
    {
        var p = HostCommand.Start("tar", args, HostCommandOptions.Default, Redirect.Stdout | Redirect.Stderr);
        using var _ = p.OwnPipes();
        var err = new StringBuilder();
        p.ErrorDataReceived += (_, e) =>
        {
            lock (err)
            {
                err.AppendLine(e.Data);
            }
        };
        p.BeginErrorReadLine();
        try
        {
            await upload.AppendAsync(p.StandardOutput.BaseStream, ct);
        }
        catch
        {
            HostCommand.Kill(p);
            throw;
        }
        finally
        {
            await p.WaitForExitAsync(CancellationToken.None);
        }
        // Exit 1 is "some files changed while read": impossible for a stopped instance, an error all the same.
        if (p.ExitCode != 0)
        {
            lock (err)
            {
                throw new InvalidOperationException($"Packing the image failed (tar exit code {p.ExitCode}): {err.ToString().Trim()}");
            }
        }
    }

    /// <summary>
    /// The instance's metadata.yaml with LXD's publish edits: properties replaced when the request has some,
    /// expiry_date set when it has one; generated (architecture, creation_date) when the volume has none.
    /// </summary>
    internal static string PublishedMetadata(string? existing, PublishSource source)
    {
        YamlMappingNode root;
        if (existing is null)
        {
            root = new YamlMappingNode
            {
                { "architecture", source.Architecture },
                { "creation_date", DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture) },
            };
            root.Add("properties", new YamlMappingNode());
        }
        else
        {
            ImageMetadata.Parse(existing); // refuses what an import would refuse, before packing anything
            var stream = new YamlStream();
            stream.Load(new StringReader(existing));
            root = (YamlMappingNode)stream.Documents[0].RootNode;
        }
        if (source.Properties is not null)
        {
            var props = new YamlMappingNode();
            foreach (var (k, v) in source.Properties)
            {
                props.Add(k, new YamlScalarNode(v) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted });
            }
            root.Children[new YamlScalarNode("properties")] = props;
        }
        if (source.ExpiresAt is { } expires && expires != default)
        {
            root.Children[new YamlScalarNode("expiry_date")] = new YamlScalarNode(expires.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        using var output = new StringWriter();
        new YamlStream(new YamlDocument(root)).Save(output, assignAnchors: false);
        var text = output.ToString();
        // YamlStream ends documents with "...": harmless, but LXD's files do not have it.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }
}
