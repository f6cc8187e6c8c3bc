using System.Globalization;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Instances.Templates;
using YamlDotNet.RepresentationModel;

namespace Hyperlxd.Instances;

/// <summary>
/// <c>lxc config metadata</c> and <c>lxc config template</c>: the instance volume's metadata.yaml and
/// templates/ files (extension container_edit_metadata). Files are read and written only as regular
/// files directly in the volume, never through a symlink, and bounded in size.
/// </summary>
public sealed partial class InstanceManager
{
    public async Task<ImageMetadataDoc> GetMetadataAsync(string name, CancellationToken ct)
    {
        var e = await LoadAsync(name, ct);
        var yaml = ReadVolumeFile(SpecOf(e).RootPath, "metadata.yaml");
        return yaml is null ? new ImageMetadataDoc() : MetadataDoc(yaml);
    }

    /// <summary>Replaces metadata.yaml (written aside, then renamed over the old one); <paramref name="check"/> sees the current document first (ETag).</summary>
    public async Task PutMetadataAsync(string name, ImageMetadataDoc doc, Action<ImageMetadataDoc>? check, CancellationToken ct)
    {
        using var _ = await _locks.AcquireAsync(name, ct);
        var e = await LoadAsync(name, ct);
        var root = SpecOf(e).RootPath;
        var current = ReadVolumeFile(root, "metadata.yaml");
        check?.Invoke(current is null ? new ImageMetadataDoc() : MetadataDoc(current));
        foreach (var (path, t) in doc.Templates ?? new())
        {
            if (string.IsNullOrEmpty(path) || path.Contains('\0'))
            {
                throw new BadRequestException("Invalid templates: a template needs a path");
            }
            TemplateMetadata.ValidateTemplateName(t.Template);
        }
        await WriteVolumeFileAsync(root, "metadata.yaml", new MemoryStream(System.Text.Encoding.UTF8.GetBytes(MetadataYaml(doc))), ct);
    }

    public async Task<List<string>> ListTemplatesAsync(string name, CancellationToken ct)
    {
        var dir = Path.Combine(SpecOf(await LoadAsync(name, ct)).RootPath, "templates");
        if (IsLink(dir) || !Directory.Exists(dir))
        {
            return new();
        }
        return new DirectoryInfo(dir).EnumerateFiles().Where(f => f.LinkTarget is null).Select(f => f.Name).Order(StringComparer.Ordinal).ToList();
    }

    public async Task<string> GetTemplateAsync(string name, string template, CancellationToken ct)
    {
        TemplateMetadata.ValidateTemplateName(template);
        var dir = Path.Combine(SpecOf(await LoadAsync(name, ct)).RootPath, "templates");
        return ReadVolumeFile(dir, template) ?? throw new NotFoundException($"Template \"{template}\" not found");
    }

    /// <summary>Creates or replaces templates/NAME with the request body (at most <see cref="MaxTemplateFile"/> bytes).</summary>
    public async Task PutTemplateAsync(string name, string template, Stream body, CancellationToken ct)
    {
        TemplateMetadata.ValidateTemplateName(template);
        using var _ = await _locks.AcquireAsync(name, ct);
        var root = SpecOf(await LoadAsync(name, ct)).RootPath;
        var dir = Path.Combine(root, "templates");
        if (IsLink(dir))
        {
            throw new BadRequestException("Refusing templates/: it is a symlink");
        }
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        await WriteVolumeFileAsync(dir, template, body, ct);
    }

    public async Task DeleteTemplateAsync(string name, string template, CancellationToken ct)
    {
        TemplateMetadata.ValidateTemplateName(template);
        using var _ = await _locks.AcquireAsync(name, ct);
        var dir = Path.Combine(SpecOf(await LoadAsync(name, ct)).RootPath, "templates");
        var path = Path.Combine(dir, template);
        if (IsLink(dir) || (!IsLink(path) && !File.Exists(path)))
        {
            throw new NotFoundException($"Template \"{template}\" not found");
        }
        File.Delete(path); // a symlink itself, never its target
    }

    /// <summary>Streams <paramref name="body"/> to a temp file beside the target and renames it over: never through a symlink, never half-written.</summary>
    private static async Task WriteVolumeFileAsync(string dir, string fileName, Stream body, CancellationToken ct)
    {
        var tmp = Path.Combine(dir, "." + fileName + "." + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                var buffer = new byte[81920];
                long total = 0;
                int n;
                while ((n = await body.ReadAsync(buffer, ct)) > 0)
                {
                    total += n;
                    if (total > MaxTemplateFile)
                    {
                        throw new PayloadTooLargeException($"{fileName} is larger than {MaxTemplateFile} bytes");
                    }
                    await f.WriteAsync(buffer.AsMemory(0, n), ct);
                }
            }
            File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            File.Move(tmp, Path.Combine(dir, fileName), overwrite: true);
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    /// <summary>metadata.yaml read leniently, as LXD unmarshals it for <c>lxc config metadata show</c>.</summary>
    internal static ImageMetadataDoc MetadataDoc(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlDotNet.Core.YamlException x)
        {
            throw new BadRequestException($"Could not parse metadata.yaml: {x.Message}", x);
        }
        var doc = new ImageMetadataDoc();
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            return doc;
        }
        string? Scalar(string key) => root.Children.TryGetValue(new YamlScalarNode(key), out var n) ? (n as YamlScalarNode)?.Value : null;
        doc.Architecture = Scalar("architecture") ?? "";
        doc.CreationDate = long.TryParse(Scalar("creation_date"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) ? c : 0;
        doc.ExpiryDate = long.TryParse(Scalar("expiry_date"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var x2) ? x2 : 0;
        if (root.Children.TryGetValue(new YamlScalarNode("properties"), out var p) && p is YamlMappingNode pm)
        {
            doc.Properties = pm.Children.ToDictionary(kv => (kv.Key as YamlScalarNode)?.Value ?? "", kv => (kv.Value as YamlScalarNode)?.Value ?? "");
        }
        var templates = TemplateMetadata.Parse(yaml);
        if (templates.Count > 0)
        {
            doc.Templates = templates.ToDictionary(t => t.Path, t => new ImageMetadataTemplate
            {
                When = t.When.ToList(),
                CreateOnly = t.CreateOnly,
                Template = t.Template,
                Properties = t.Properties.Count > 0 ? t.Properties.ToDictionary() : null,
            });
        }
        return doc;
    }

    /// <summary>The YAML LXD writes for a metadata document (its yaml.Marshal of api.ImageMetadata).</summary>
    internal static string MetadataYaml(ImageMetadataDoc doc)
    {
        static YamlScalarNode Q(string s) => new(s) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted };
        static YamlMappingNode Map(Dictionary<string, string>? m)
        {
            var node = new YamlMappingNode();
            foreach (var (k, v) in m ?? new())
            {
                node.Add(Q(k), Q(v));
            }
            return node;
        }
        var root = new YamlMappingNode
        {
            { "architecture", Q(doc.Architecture) },
            { "creation_date", doc.CreationDate.ToString(CultureInfo.InvariantCulture) },
            { "expiry_date", doc.ExpiryDate.ToString(CultureInfo.InvariantCulture) },
            { "properties", Map(doc.Properties) },
        };
        var templates = new YamlMappingNode();
        foreach (var (path, t) in doc.Templates ?? new())
        {
            var when = new YamlSequenceNode();
            foreach (var w in t.When ?? new())
            {
                when.Add(Q(w));
            }
            templates.Add(Q(path), new YamlMappingNode
            {
                { "when", when },
                { "create_only", t.CreateOnly ? "true" : "false" },
                { "template", Q(t.Template) },
                { "properties", Map(t.Properties) },
            });
        }
        root.Add("templates", templates);
        using var w2 = new StringWriter();
        new YamlStream(new YamlDocument(root)).Save(w2, assignAnchors: false);
        var text = w2.ToString();
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }
}
