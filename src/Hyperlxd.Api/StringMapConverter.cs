using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>
/// String maps (config, a device's keys) read as LXD's Go decoder reads them: a JSON <c>null</c> value
/// becomes "" — which the daemon takes as "unset" — so no null reaches validation or the database.
/// Other non-string values stay errors ("wrong type for field").
/// </summary>
public sealed class StringMapConverter : JsonConverter<Dictionary<string, string>>
{
    public override Dictionary<string, string>? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException();
        }
        var map = new Dictionary<string, string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            reader.Read();
            map[key] = reader.TokenType switch
            {
                JsonTokenType.Null => "",
                JsonTokenType.String => reader.GetString()!,
                _ => throw new JsonException(),
            };
        }
        return map;
    }

    public override void Write(Utf8JsonWriter writer, Dictionary<string, string> value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach (var (k, v) in value)
        {
            writer.WriteString(k, v);
        }
        writer.WriteEndObject();
    }
}
