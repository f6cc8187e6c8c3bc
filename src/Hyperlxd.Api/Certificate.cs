using System.Text.Json.Serialization;

namespace Hyperlxd.Api;

public sealed class Certificate
{
    public string Name { get; set; } = "";
    public string Type { get; set; } = "client";
    public bool Restricted { get; set; }
    public List<string> Projects { get; set; } = new();
    [JsonPropertyName("certificate")] public string Pem { get; set; } = "";
    public string Fingerprint { get; set; } = "";
}

/// <summary>Body of <c>POST /1.0/certificates</c>, as the 5.0.2 client and pylxd send it.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class CertificatesPost
{
    public string? Name { get; set; }
    public string? Type { get; set; }
    public bool Restricted { get; set; }
    public List<string>? Projects { get; set; }
    public string? Certificate { get; set; }
    public string? Password { get; set; }
    public bool Token { get; set; }
}

/// <summary>Writable fields of a certificate (<c>PUT/PATCH /1.0/certificates/{fp}</c>).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed class CertificatePut
{
    public string? Name { get; set; }
    public string? Type { get; set; }
    public bool? Restricted { get; set; }
    public List<string>? Projects { get; set; }
    public string? Certificate { get; set; }
    [JsonPropertyName("fingerprint")] public string? IgnoredFingerprint { get; set; }
}

/// <summary>The payload of a certificate add token, base64-encoded JSON as LXD 5.0.2 encodes it.</summary>
public sealed class CertificateAddToken
{
    public string ClientName { get; set; } = "";
    public string Fingerprint { get; set; } = "";
    public List<string> Addresses { get; set; } = new();
    public string Secret { get; set; } = "";
    public DateTimeOffset? ExpiresAt { get; set; }
}
