using System.Text.Json;
using Hyperlxd.Api;
using Npgsql;
using NpgsqlTypes;

namespace Hyperlxd.State.Repositories;

/// <summary>Config maps, device maps and lists live in jsonb columns, (de)serialised with the API's own context.</summary>
internal static class Json
{
    public static NpgsqlParameter Param(Dictionary<string, string> map) =>
        new() { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = JsonSerializer.Serialize(map, ApiJsonContext.Default.DictionaryStringString) };

    public static NpgsqlParameter Param(Dictionary<string, Dictionary<string, string>> map) =>
        new() { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = JsonSerializer.Serialize(map, ApiJsonContext.Default.DictionaryStringDictionaryStringString) };

    public static NpgsqlParameter Param(List<string> list) =>
        new() { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = JsonSerializer.Serialize(list, ApiJsonContext.Default.ListString) };

    public static Dictionary<string, string> Map(string json) =>
        JsonSerializer.Deserialize(json, ApiJsonContext.Default.DictionaryStringString) ?? new();

    public static Dictionary<string, Dictionary<string, string>> Devices(string json) =>
        JsonSerializer.Deserialize(json, ApiJsonContext.Default.DictionaryStringDictionaryStringString) ?? new();

    public static List<string> List(string json) =>
        JsonSerializer.Deserialize(json, ApiJsonContext.Default.ListString) ?? new();
}
