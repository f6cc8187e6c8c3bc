using System.Text.Json;
using Hyperlxd.Core;

namespace Hyperlxd.Images.Simplestreams;

/// <summary>One downloadable file of a product version.</summary>
public sealed record StreamItem(string Ftype, string Path, string Sha256, long Size);

/// <summary>What an alias or fingerprint resolves to on a simplestreams server.</summary>
public sealed record StreamImage(string Fingerprint, string Product, string Version, StreamItem Metadata, StreamItem? Rootfs);

/// <summary>
/// The read side of simplestreams (LXD's image server protocol): <c>streams/v1/index.json</c>
/// names the product catalogues, each maps products → versions → items. Parsed with JsonDocument,
/// so there are no wire types to keep in the API context.
/// </summary>
public sealed class SimplestreamsClient(HttpClient http, string server)
{
    private readonly Uri _base = new(server.TrimEnd('/') + "/");

    public Uri UrlOf(string path) => new(_base, path);

    public async Task<StreamImage> FindAsync(string aliasOrFingerprint, string imageType, CancellationToken ct)
    {
        using var index = JsonDocument.Parse(await http.GetStringAsync(UrlOf("streams/v1/index.json"), ct));
        foreach (var entry in index.RootElement.GetProperty("index").EnumerateObject())
        {
            if (entry.Value.TryGetProperty("datatype", out var dt) && dt.GetString() != "image-downloads")
            {
                continue;
            }
            using var products = JsonDocument.Parse(await http.GetStringAsync(UrlOf(entry.Value.GetProperty("path").GetString()!), ct));
            foreach (var product in products.RootElement.GetProperty("products").EnumerateObject())
            {
                var aliases = product.Value.TryGetProperty("aliases", out var a) ? (a.GetString() ?? "").Split(',') : [];
                var byAlias = aliases.Contains(aliasOrFingerprint, StringComparer.Ordinal);
                foreach (var version in product.Value.GetProperty("versions").EnumerateObject().OrderByDescending(v => v.Name, StringComparer.Ordinal))
                {
                    if (Build(product.Name, version, imageType) is not { } image)
                    {
                        continue;
                    }
                    if (byAlias || image.Fingerprint.StartsWith(aliasOrFingerprint, StringComparison.OrdinalIgnoreCase))
                    {
                        return image;
                    }
                }
            }
        }
        throw new NotFoundException($"The requested image couldn't be found: \"{aliasOrFingerprint}\"");
    }

    private static StreamImage? Build(string product, JsonProperty version, string imageType)
    {
        var items = version.Value.GetProperty("items").EnumerateObject().Select(i => i.Value).ToList();
        StreamItem? Item(string ftype) => items.Where(i => i.GetProperty("ftype").GetString() == ftype)
            .Select(i => new StreamItem(ftype, i.GetProperty("path").GetString()!, i.GetProperty("sha256").GetString()!,
                i.TryGetProperty("size", out var s) ? s.GetInt64() : -1)).FirstOrDefault();
        string? Prop(string ftype, string key) => items.Where(i => i.GetProperty("ftype").GetString() == ftype && i.TryGetProperty(key, out _))
            .Select(i => i.GetProperty(key).GetString()).FirstOrDefault();

        if (imageType != "virtual-machine" && Item("lxd_combined.tar.gz") is { } combined)
        {
            return new StreamImage(combined.Sha256, product, version.Name, combined, null);
        }
        if (Item("lxd.tar.xz") is not { } meta)
        {
            return null;
        }
        if (imageType == "virtual-machine")
        {
            return Item("disk-kvm.img") is { } disk && Prop("lxd.tar.xz", "combined_disk-kvm-img_sha256") is { } fp
                ? new StreamImage(fp, product, version.Name, meta, disk) : null;
        }
        if (Item("squashfs") is { } sq && Prop("lxd.tar.xz", "combined_squashfs_sha256") is { } sqfp)
        {
            return new StreamImage(sqfp, product, version.Name, meta, sq);
        }
        if (Item("root.tar.xz") is { } root && (Prop("lxd.tar.xz", "combined_rootxz_sha256") ?? Prop("lxd.tar.xz", "combined_sha256")) is { } rootfp)
        {
            return new StreamImage(rootfp, product, version.Name, meta, root);
        }
        return null;
    }
}
