using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Hyperlxd.Api;

/// <summary>
/// YAML as users read and write LXD objects (lxc-style output, preseeds, edits), converted to and
/// from the JSON wire form through YamlDotNet's representation model (no reflection, AOT-safe).
/// </summary>
public static partial class YamlJson
{
    public static string ToYaml(JsonElement value)
    {
        var stream = new YamlStream(new YamlDocument(ToNode(value)));
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        var text = writer.ToString();

        // YamlStream always closes the document with "...", which lxc's output never has.
        if (text.EndsWith("...\n", StringComparison.Ordinal))
            text = text[..^4];
        else if (text.EndsWith("...\r\n", StringComparison.Ordinal))
            text = text[..^5];
        return text;
    }

    private static YamlNode ToNode(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
            {
                var map = new YamlMappingNode();
                foreach (var p in e.EnumerateObject())
                    map.Add(Scalar(p.Name), ToNode(p.Value));
                if (map.Children.Count == 0)
                    map.Style = MappingStyle.Flow;
                return map;
            }
            case JsonValueKind.Array:
            {
                var seq = new YamlSequenceNode(e.EnumerateArray().Select(ToNode));
                if (seq.Children.Count == 0)
                    seq.Style = SequenceStyle.Flow;
                return seq;
            }
            case JsonValueKind.String:
                return Scalar(e.GetString()!);
            case JsonValueKind.True:
                return new YamlScalarNode("true") { Style = ScalarStyle.Plain };
            case JsonValueKind.False:
                return new YamlScalarNode("false") { Style = ScalarStyle.Plain };
            case JsonValueKind.Number:
                return new YamlScalarNode(e.GetRawText()) { Style = ScalarStyle.Plain };
            default:
                return new YamlScalarNode("null") { Style = ScalarStyle.Plain };
        }
    }

    /// <summary>
    /// A string scalar that reads back as the same string: quoted when a plain scalar would be
    /// taken as a bool/null/number (YAML 1.1 rules, which go-yaml and many readers apply), and a
    /// literal block for multi-line text such as PEM certificates.
    /// </summary>
    private static YamlScalarNode Scalar(string s)
    {
        var style = ScalarStyle.Any;
        if (s.Length == 0 || LooksImplicit().IsMatch(s))
            style = ScalarStyle.DoubleQuoted;
        else if (s.Contains('\n') && !s.Contains('\r') && !s.Contains('\t') && s.TrimEnd(' ') == s)
            style = ScalarStyle.Literal;
        return new YamlScalarNode(s) { Style = style };
    }

    [GeneratedRegex(@"^(?:~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0x[0-9a-fA-F_]+|0o?[0-7_]+|\d{4}-\d\d?-\d\d?.*)$")]
    private static partial Regex LooksImplicit();

    /// <summary>
    /// Parses YAML (as edited by a user) into JSON. Scalars become strings, except an empty/null
    /// plain scalar which becomes null: LXD config values are all strings, so "2" must stay "2".
    /// </summary>
    public static JsonNode? ToJson(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new FormatException($"Failed to parse YAML: {e.Message}", e);
        }

        return stream.Documents.Count == 0 ? null : FromNode(stream.Documents[0].RootNode);
    }

    private static JsonNode? FromNode(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", FromNode(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(FromNode).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" } => null,
        YamlScalarNode scalar => JsonValue.Create(scalar.Value ?? ""),
        _ => throw new FormatException("Failed to parse YAML: aliases and tags are not supported"),
    };
}
