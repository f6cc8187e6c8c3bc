using Hyperlxd.Core;
using YamlDotNet.RepresentationModel;

namespace Hyperlxd.Images;

/// <summary>What an image's <c>metadata.yaml</c> says (LXD's ImageMetadata).</summary>
public sealed class ImageMetadata
{
    public string Architecture { get; init; } = "";
    public long CreationDate { get; init; }
    public long ExpiryDate { get; init; }
    public Dictionary<string, string> Properties { get; init; } = new();

    /// <summary>LXD's architecture names and the aliases it accepts for them (shared/osarch).</summary>
    private static readonly Dictionary<string, string> Architectures = new(StringComparer.Ordinal)
    {
        ["i686"] = "i686", ["i386"] = "i686", ["i586"] = "i686", ["386"] = "i686", ["x86"] = "i686",
        ["x86_64"] = "x86_64", ["amd64"] = "x86_64",
        ["armv6l"] = "armv6l", ["armel"] = "armv6l", ["arm"] = "armv6l",
        ["armv7l"] = "armv7l", ["armhf"] = "armv7l", ["armhfp"] = "armv7l", ["armv7a"] = "armv7l", ["armv7"] = "armv7l",
        ["aarch64"] = "aarch64", ["arm64"] = "aarch64", ["arm64v8"] = "aarch64", ["armv8"] = "aarch64",
        ["ppc"] = "ppc", ["powerpc"] = "ppc",
        ["ppc64"] = "ppc64", ["powerpc64"] = "ppc64",
        ["ppc64le"] = "ppc64le", ["ppc64el"] = "ppc64le",
        ["s390x"] = "s390x",
        ["mips"] = "mips", ["mips64"] = "mips64",
        ["riscv32"] = "riscv32", ["riscv64"] = "riscv64",
        ["loongarch64"] = "loongarch64",
    };

    public static ImageMetadata Parse(string yaml)
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            root = stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode m
                ? m
                : throw new BadRequestException("Invalid metadata.yaml: a mapping is expected");
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new BadRequestException($"Invalid metadata.yaml: {e.Message}", e);
        }
        string? Scalar(string key) =>
            root.Children.TryGetValue(new YamlScalarNode(key), out var n) ? (n as YamlScalarNode)?.Value
                ?? throw new BadRequestException($"Invalid metadata.yaml: \"{key}\" must be a scalar") : null;

        var arch = Scalar("architecture");
        if (string.IsNullOrEmpty(arch))
        {
            throw new BadRequestException("Invalid metadata.yaml: \"architecture\" is missing");
        }
        if (!Architectures.TryGetValue(arch, out var canonical))
        {
            throw new BadRequestException($"Invalid metadata.yaml: unknown architecture \"{arch}\"");
        }
        long Date(string key) => Scalar(key) is { Length: > 0 } s
            ? long.TryParse(s, out var v) ? v : throw new BadRequestException($"Invalid metadata.yaml: \"{key}\" must be a Unix timestamp")
            : 0;
        var props = new Dictionary<string, string>();
        if (root.Children.TryGetValue(new YamlScalarNode("properties"), out var p))
        {
            if (p is not YamlMappingNode pm)
            {
                throw new BadRequestException("Invalid metadata.yaml: \"properties\" must be a mapping");
            }
            foreach (var (k, v) in pm.Children)
            {
                props[((YamlScalarNode)k).Value ?? ""] = (v as YamlScalarNode)?.Value ?? "";
            }
        }
        return new ImageMetadata { Architecture = canonical, CreationDate = Date("creation_date"), ExpiryDate = Date("expiry_date"), Properties = props };
    }
}
