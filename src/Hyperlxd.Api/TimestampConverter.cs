using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

/// <summary>
/// Timestamps as LXD writes them: RFC 3339 in UTC with a "Z" (2006-01-02T15:04:05.999999999Z).
/// An offset such as "+00:00" is not merely cosmetic: once a timestamp is copied through a
/// JsonElement (event metadata) the default encoder writes '+' as "\u002B", which Go's
/// time.Time decoder does not unescape — the lxc client then drops the event and waits forever.
/// </summary>
public sealed class TimestampConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTimeOffset.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
}
