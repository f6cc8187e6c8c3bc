using Hyperlxd.Core;

namespace Hyperlxd.Images.Tar;

/// <summary>LXD's <c>compression_algorithm</c> values (publish, backups) and the program GNU tar compresses with.</summary>
public static class CompressionAlgorithms
{
    private static readonly Dictionary<string, string?> Programs = new(StringComparer.Ordinal)
    {
        ["none"] = null,
        ["gzip"] = "gzip",
        ["bzip2"] = "bzip2",
        ["xz"] = "xz -T0",
        ["zstd"] = "zstd -T0",
    };

    /// <summary>Checks a requested algorithm ("" is gzip, LXD's default) against the tools on this host; returns it.</summary>
    public static string Check(string? algorithm)
    {
        var a = string.IsNullOrEmpty(algorithm) ? "gzip" : algorithm;
        if (!Programs.TryGetValue(a, out var program))
        {
            throw new BadRequestException($"Invalid compression_algorithm \"{a}\": use one of {string.Join(", ", Programs.Keys)}");
        }
        var tool = program?.Split(' ')[0];
        if (tool is not null && !(Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Append("/usr/bin").Any(d => File.Exists(Path.Combine(d, tool))))
        {
            throw new BadRequestException($"Invalid compression_algorithm \"{a}\": {tool} is not installed on the server");
        }
        return a;
    }

    /// <summary>GNU tar's option for a checked algorithm; null for none.</summary>
    public static string? TarOption(string algorithm) => Programs[algorithm] is { } program ? "--use-compress-program=" + program : null;
}
