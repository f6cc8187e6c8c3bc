using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using YamlDotNet.RepresentationModel;

namespace Hyperlxd.Instances.Templates;

/// <summary>One entry of metadata.yaml's <c>templates:</c> (LXD's ImageMetadataTemplate), keyed by the path it writes.</summary>
public sealed record TemplateEntry(string Path, IReadOnlyList<string> When, bool CreateOnly, string Template, IReadOnlyDictionary<string, string> Properties);

public static class TemplateMetadata
{
    /// <summary>The triggers LXD knows; a template may name others, which then never fire.</summary>
    public static readonly string[] Triggers = ["create", "copy", "start", "rename"];

    /// <summary>The <c>templates:</c> of an instance's metadata.yaml; none when it has none.</summary>
    public static List<TemplateEntry> Parse(string yaml)
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode m)
            {
                return new();
            }
            root = m;
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new BadRequestException($"Could not parse metadata.yaml: {e.Message}", e);
        }
        var list = new List<TemplateEntry>();
        if (!root.Children.TryGetValue(new YamlScalarNode("templates"), out var node) || node is YamlScalarNode { Value: null or "" })
        {
            return list;
        }
        if (node is not YamlMappingNode templates)
        {
            throw new BadRequestException("Invalid metadata.yaml: \"templates\" must be a mapping");
        }
        foreach (var (k, v) in templates.Children)
        {
            var path = (k as YamlScalarNode)?.Value ?? throw new BadRequestException("Invalid metadata.yaml: a template path must be a string");
            if (v is not YamlMappingNode t)
            {
                throw new BadRequestException($"Invalid metadata.yaml: template \"{path}\" must be a mapping");
            }
            string? Scalar(string key) => t.Children.TryGetValue(new YamlScalarNode(key), out var n) ? (n as YamlScalarNode)?.Value : null;
            var when = t.Children.TryGetValue(new YamlScalarNode("when"), out var w) && w is YamlSequenceNode seq
                ? seq.Children.Select(x => (x as YamlScalarNode)?.Value ?? "").ToList()
                : new List<string>();
            var props = new Dictionary<string, string>(StringComparer.Ordinal);
            if (t.Children.TryGetValue(new YamlScalarNode("properties"), out var p) && p is YamlMappingNode pm)
            {
                foreach (var (pk, pv) in pm.Children)
                {
                    props[(pk as YamlScalarNode)?.Value ?? ""] = (pv as YamlScalarNode)?.Value ?? "";
                }
            }
            list.Add(new TemplateEntry(path, when, LxdBool.IsTrue(Scalar("create_only")), Scalar("template") ?? "", props));
        }
        return list;
    }

    /// <summary>A template file name under templates/: one plain name (LXD writes them flat), no "/", "..", NUL.</summary>
    public static void ValidateTemplateName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('/') || name.Contains('\0') || name is "." or ".." || name.Length > 255)
        {
            throw new BadRequestException($"Invalid template name \"{name?.Replace("\0", "\\0", StringComparison.Ordinal)}\": a file name without \"/\"");
        }
    }
}
