using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Hyperlxd.Core.Query;

/// <summary>ETags are a hash of the writable state of an object, so a PUT based on a stale read is refused.</summary>
public static class ETag
{
    public static string Compute<T>(T value, JsonTypeInfo<T> typeInfo) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(value, typeInfo)));
}
