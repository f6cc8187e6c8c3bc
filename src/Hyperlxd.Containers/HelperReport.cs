namespace Hyperlxd.Containers;

/// <summary>
/// The line a native helper writes on stderr when it fails before running anything:
/// <c>hyperlxd-monitor: errno=2: Failed exec /sbin/init: No such file or directory</c> (native-shims/README.md).
/// </summary>
internal static class HelperReport
{
    /// <summary>The errno and the message of such a line; false (and the trimmed text) for anything else.</summary>
    public static bool TryParse(string stderr, out int errno, out string message)
    {
        message = stderr.Trim();
        errno = 0;
        var e = message.IndexOf(": errno=", StringComparison.Ordinal);
        var colon = e < 0 ? -1 : message.IndexOf(": ", e + 8, StringComparison.Ordinal);
        if (!message.StartsWith("hyperlxd-", StringComparison.Ordinal) || colon < 0
            || !int.TryParse(message.AsSpan(e + 8, colon - e - 8), out errno))
        {
            return false;
        }
        message = message[(colon + 2)..];
        return true;
    }
}
