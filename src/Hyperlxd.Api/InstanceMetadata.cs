namespace Hyperlxd.Api;

/// <summary>An instance's metadata.yaml as <c>/1.0/instances/NAME/metadata</c> shows it (LXD's api.ImageMetadata).</summary>
public sealed class ImageMetadataDoc
{
    public string Architecture { get; set; } = "";
    public long CreationDate { get; set; }
    public long ExpiryDate { get; set; }
    public Dictionary<string, string>? Properties { get; set; }
    public Dictionary<string, ImageMetadataTemplate>? Templates { get; set; }
}

/// <summary>One <c>templates:</c> entry (LXD's api.ImageMetadataTemplate), keyed by the path it writes.</summary>
public sealed class ImageMetadataTemplate
{
    public List<string>? When { get; set; }
    public bool CreateOnly { get; set; }
    public string Template { get; set; } = "";
    public Dictionary<string, string>? Properties { get; set; }
}
