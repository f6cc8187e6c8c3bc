namespace Hyperlxd.Interop.Linux.Netlink;

/// <summary>What the kernel accepts as a network interface name (dev_valid_name).</summary>
public static class InterfaceName
{
    /// <summary>IFNAMSIZ - 1.</summary>
    public const int MaxLength = 15;

    /// <summary>1-15 bytes, not "." or "..", no '/', ':' or whitespace.</summary>
    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name)
        && System.Text.Encoding.UTF8.GetByteCount(name) <= MaxLength
        && name is not "." and not ".."
        && !name.Any(c => c == '/' || c == ':' || c == '\0' || char.IsWhiteSpace(c));
}
