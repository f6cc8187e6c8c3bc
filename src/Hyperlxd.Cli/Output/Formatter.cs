using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Hyperlxd.Api;

namespace Hyperlxd.Cli.Output;

public enum OutputFormat
{
    Table,
    Json,
    Yaml,
}

/// <summary>
/// Tables, JSON and YAML. YAML is produced from the JSON element tree so its keys are exactly the
/// wire keys (snake_case, plus LXD's odd capitalised ones) and key order follows the server.
/// </summary>
public static partial class Formatter
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    public static OutputFormat ParseFormat(string? value, OutputFormat fallback, params OutputFormat[] allowed)
    {
        if (value is null)
            return fallback;
        OutputFormat? format = value.ToLowerInvariant() switch
        {
            "table" => OutputFormat.Table,
            "json" => OutputFormat.Json,
            "yaml" => OutputFormat.Yaml,
            _ => null,
        };
        if (format is null || !allowed.Contains(format.Value))
        {
            var names = string.Join(", ", allowed.Select(f => f.ToString().ToLowerInvariant()));
            throw new UsageException($"Invalid format \"{value}\" (expected one of: {names})");
        }

        return format.Value;
    }

    /// <summary>Writes a structured value as JSON (compact, one line, like lxc) or YAML.</summary>
    public static void Write(TextWriter output, JsonElement value, OutputFormat format)
    {
        if (format == OutputFormat.Json)
            output.WriteLine(JsonSerializer.Serialize(value, Compact));
        else
            output.Write(ToYaml(value));
    }

    /// <summary>Builds a JSON array element from existing elements (keeps them byte-identical).</summary>
    public static JsonElement ArrayOf(IEnumerable<JsonElement> items)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var item in items)
                item.WriteTo(writer);
            writer.WriteEndArray();
        }

        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    public static string ToYaml(JsonElement value) => YamlJson.ToYaml(value);

    public static JsonNode? YamlToJson(string yaml)
    {
        try
        {
            return YamlJson.ToJson(yaml);
        }
        catch (FormatException e)
        {
            throw new CliException(e.Message, e);
        }
    }

    /// <summary>An lxc-style ASCII table (centred headers, left-aligned cells).</summary>
    public static string Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select(h => h.Length).ToArray();
        foreach (var row in all)
        {
            for (var i = 0; i < widths.Length; i++)
            {
                foreach (var line in Cell(row, i).Split('\n'))
                    widths[i] = Math.Max(widths[i], line.Length);
            }
        }

        var sb = new StringBuilder();
        var rule = "+" + string.Join("+", widths.Select(w => new string('-', w + 2))) + "+\n";
        sb.Append(rule);
        sb.Append('|');
        for (var i = 0; i < widths.Length; i++)
        {
            var pad = widths[i] - headers[i].Length;
            sb.Append(' ').Append(new string(' ', pad / 2)).Append(headers[i]).Append(new string(' ', pad - (pad / 2))).Append(" |");
        }

        sb.Append('\n').Append(rule);
        foreach (var row in all)
        {
            var lines = Enumerable.Range(0, widths.Length).Select(i => Cell(row, i).Split('\n')).ToArray();
            var height = lines.Max(l => l.Length);
            for (var l = 0; l < height; l++)
            {
                sb.Append('|');
                for (var i = 0; i < widths.Length; i++)
                    sb.Append(' ').Append((l < lines[i].Length ? lines[i][l] : "").PadRight(widths[i])).Append(" |");
                sb.Append('\n');
            }

            sb.Append(rule);
        }

        return sb.ToString();
    }

    private static string Cell(IReadOnlyList<string> row, int i) => i < row.Count ? row[i] : "";
}
