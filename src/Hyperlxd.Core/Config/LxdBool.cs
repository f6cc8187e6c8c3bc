namespace Hyperlxd.Core.Config;

/// <summary>
/// LXD's boolean values (shared.IsTrue / shared.IsFalse): "true", "1", "yes", "on" and "false",
/// "0", "no", "off", case-insensitive; "" (or absent) is unset. Every boolean key and header is read here.
/// </summary>
public static class LxdBool
{
    public static bool IsTrue(string? value) => value?.ToLowerInvariant() is "true" or "1" or "yes" or "on";

    public static bool IsFalse(string? value) => value?.ToLowerInvariant() is "false" or "0" or "no" or "off";

    /// <summary>A valid value: true, false, or unset.</summary>
    public static bool IsValid(string? value) => string.IsNullOrEmpty(value) || IsTrue(value) || IsFalse(value);

    /// <summary>True when set to a true value, false when set to a false value, <paramref name="unset"/> when "" or absent.</summary>
    public static bool Get(IReadOnlyDictionary<string, string> config, string key, bool unset = false) =>
        config.GetValueOrDefault(key) is { Length: > 0 } v ? IsTrue(v) : unset;
}
